package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBusyboxRootfsIsStatic(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
	tarball, err := BusyboxRootfs()
	require.NoError(t, err)
	require.Greater(t, len(tarball), 500_000, "the archive must hold the busybox binary")

	require.False(t, isStaticELF([]byte("#!/bin/sh\n")), "a script is not a static executable")
	bin, err := os.ReadFile(BusyboxPath)
	require.NoError(t, err)
	require.True(t, isStaticELF(bin))
	sh, err := os.ReadFile("/bin/sh")
	require.NoError(t, err)
	require.False(t, isStaticELF(sh), "Debian's /bin/sh (dash) is dynamically linked")
}

// TestDockerEngineServesTheSSHUser starts the private engine, runs a container from the test image, and drives
// the engine through sshd as the unprivileged login user, the way devices are reached.
func TestDockerEngineServesTheSSHUser(t *testing.T) {
	t.Parallel()
	e := StartDocker(t)
	image := TestImage(t)
	require.Equal(t, image, TestImage(t), "the image is built once")

	name := ContainerName(t, "echo")
	out := e.Docker(t, "run", "--rm", "--network", "none", "--name", name, image, "sh", "-c", "echo hello from $(uname -s)")
	require.Equal(t, "hello from Linux", out)

	_, err := e.TryDocker(nil, "inspect", "--type", "container", ContainerName(t, "absent"))
	require.Error(t, err, "inspect of a missing container fails")

	s := StartSSHD(t, SSHDOptions{ExtraConfig: []string{e.SetEnv()}})
	got, err := runAs(t, s, s.ClientSigner, s.HostKey, "id -un; echo $DOCKER_HOST; docker image ls --format '{{.Repository}}:{{.Tag}}'")
	require.NoError(t, err, got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.Equal(t, TestUser, lines[0])
	require.Equal(t, e.Host, lines[1])
	require.Contains(t, lines[2:], image)
}
