package docker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidDockerHost(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"unix:///var/run/docker.sock", "unix:///run/docker-proxy.sock", "tcp://127.0.0.1:2375",
		"tcp://docker-proxy.lan:2375", "tcp://localhost:1"} {
		require.NoError(t, ValidDockerHost(ok), ok)
	}
	for _, bad := range []string{"", "http://127.0.0.1:2375", "ssh://root@host", "unix://relative.sock", "unix:///",
		"tcp://127.0.0.1", "tcp://:2375", "tcp://h:2375/path", "unix:///run/a b.sock", "unix:///run/x'y",
		`tcp://h:1";id;"`, "tcp://h:1$(id)", "unix:///run/../root/x.sock", "tcp://h:123456", "unix:///" + string(make([]byte, 300))} {
		err := ValidDockerHost(bad)
		require.Error(t, err, bad)
		var ae *ArgError
		require.True(t, errors.As(err, &ae))
		require.Equal(t, "docker_host", ae.Arg)
	}
}

func TestWithDockerHost(t *testing.T) {
	t.Parallel()
	cmd := Inventory()
	got, err := WithDockerHost(cmd, "")
	require.NoError(t, err)
	require.Equal(t, cmd, got, "no docker_host, no change")
	got, err = WithDockerHost(cmd, "tcp://127.0.0.1:2375")
	require.NoError(t, err)
	require.Equal(t, "env 'DOCKER_HOST=tcp://127.0.0.1:2375' "+cmd, got)
	_, err = WithDockerHost(cmd, "tcp://h:1;reboot")
	require.ErrorIs(t, err, ErrInvalidArgument)
}
