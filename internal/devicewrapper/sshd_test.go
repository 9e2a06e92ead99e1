package devicewrapper_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pinned accepts exactly the test server's host key.
type pinned struct{ key ssh.PublicKey }

func (p pinned) CheckHostKey(_ context.Context, _ string, key ssh.PublicKey) error {
	if string(key.Marshal()) != string(p.key.Marshal()) {
		return errors.New("unexpected host key")
	}
	return nil
}

func wrappedDevice(t *testing.T, engine *testenv.DockerEngine, wrapperArgs string) (*testenv.SSHD, *sshpool.Pool, sshpool.Target) {
	t.Helper()
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}, Wrapper: true,
		WrapperArgs: wrapperArgs})
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{sshd.ClientSigner}, HostKeys: pinned{sshd.HostKey},
		ConnectTimeout: 15 * time.Second, CommandTimeout: 2 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	return sshd, pool, sshpool.Target{DeviceID: "wrapped", Host: sshd.Host, Port: sshd.Port, User: sshd.User}
}

// TestProductThroughWrapper runs what a poll and a container operation send, with the product's own builders
// and SSH pool, against a real sshd whose key is `restrict,command="<wrapper>"`: the collector, the docker probe
// and inventory, inspect, cgroup statistics, a restart, logs, and the same through DOCKER_HOST. A command the
// product never sends is refused, logged, and fails the session cleanly; the connection stays usable.
func TestProductThroughWrapper(t *testing.T) {
	engine := testenv.StartDocker(t)
	image := testenv.TestImage(t)
	sshd, pool, target := wrappedDevice(t, engine, "")
	ctx := context.Background()

	name := testenv.ContainerName(t, "wrapped")
	engine.Docker(t, "run", "-d", "--name", name, "--network", "none", image, "sh", "-c", "echo hello; while :; do sleep 1; done")
	t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", "-v", name) })

	run := func(cmd string, stdin []byte) *sshpool.Result {
		t.Helper()
		res, err := pool.Run(ctx, target, cmd, stdin)
		require.NoError(t, err, "%.80s", cmd)
		return res
	}

	// A poll: the collector script and the container inventory.
	res := run("sh -s", []byte(collector.Script))
	snap, err := collector.Parse(res.Stdout)
	require.NoError(t, err)
	require.NotNil(t, snap)
	probe := docker.ClassifyProbe(run(docker.Probe(), nil).Stdout, nil, 0)
	require.Equal(t, docker.Available, probe.State, "%+v", probe)
	list, err := docker.ParsePS(run(docker.Inventory(), nil).Stdout)
	require.NoError(t, err)
	var id string
	for _, c := range list {
		if c.Name == name {
			id = c.ID
		}
	}
	require.NotEmpty(t, id, "the inventory lists the container")
	inspect, err := docker.Inspect(id)
	require.NoError(t, err)
	before, err := docker.ParseInspect(run(inspect, nil).Stdout)
	require.NoError(t, err)
	require.Len(t, before, 1)
	stats, err := docker.ParseCgroupStats(run(docker.CgroupStats(), nil).Stdout)
	require.NoError(t, err)
	require.NotEmpty(t, stats)

	// A container operation: restart, then the container has a new start time.
	restart, err := docker.Restart(name, 1)
	require.NoError(t, err)
	run(restart, nil)
	after, err := docker.ParseInspect(run(inspect, nil).Stdout)
	require.NoError(t, err)
	require.True(t, after[0].Started.After(before[0].Started), "restarted: %v -> %v", before[0].Started, after[0].Started)
	logs, err := docker.Logs(name, docker.LogOptions{Tail: "5"})
	require.NoError(t, err)
	require.Contains(t, string(run(logs, nil).Stdout), "hello")

	// A live container log tail as activities/logtail.go builds it: the newest lines arrive. sshd does not pass
	// signals to a forced command ("refusing to send signal"), so after the session is closed docker logs --follow
	// ends with its next write or with the container; restarting the container ends it here.
	follower := journal.FollowCommand(docker.Join("docker", "logs", "--follow", "--timestamps", "--tail",
		fmt.Sprint(journal.TailContext), "--", name))
	var tailOut, tailErr lockedBuffer
	tailCtx, stopTail := context.WithCancel(ctx)
	tailDone := make(chan error, 1)
	go func() {
		_, err := pool.Stream(tailCtx, target, follower, &tailOut, &tailErr)
		tailDone <- err
	}()
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(tailOut.String(), "hello") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	stopTail()
	engine.Docker(t, "restart", "-t", "1", name)
	select {
	case <-tailDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the container tail did not end with its session")
	}
	require.Contains(t, tailOut.String(), "hello", "stderr: %s", tailErr.String())

	// Through a Docker socket proxy address: the login environment's DOCKER_HOST is overridden.
	proxied, err := docker.WithDockerHost(docker.Inventory(), engine.Host)
	require.NoError(t, err)
	require.Contains(t, string(run(proxied, nil).Stdout), name)

	// Refused: a command the product never sends, and an injection into one it does.
	for _, hostile := range []string{
		"docker run --rm -v /:/host " + image + " true",
		restart + "; touch " + sshd.Dir + "/pwned",
	} {
		res, err := pool.Run(ctx, target, hostile, nil)
		require.Error(t, err, hostile)
		require.Equal(t, sshpool.CommandFailed, sshpool.KindOf(err), "%v", err)
		require.Equal(t, 126, res.ExitCode)
		require.Contains(t, string(res.Stderr), "infrastructor-wrapper: refused")
	}
	_, err = os.Stat(sshd.Dir + "/pwned")
	require.True(t, os.IsNotExist(err), "the injected command did not run")
	refusals, err := os.ReadFile(sshd.WrapperLog)
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(refusals), "refused ("), "%s", refusals)
	require.Contains(t, string(refusals), "docker run")
	// The connection is still good after a refusal.
	run(docker.Inventory(), nil)
}

// TestReadOnlyWrapper: with --read-only the key polls but cannot act.
func TestReadOnlyWrapper(t *testing.T) {
	engine := testenv.StartDocker(t)
	image := testenv.TestImage(t)
	sshd, pool, target := wrappedDevice(t, engine, "--read-only")
	ctx := context.Background()
	name := testenv.ContainerName(t, "readonly")
	engine.Docker(t, "run", "-d", "--name", name, "--network", "none", image, "sh", "-c", "while :; do sleep 1; done")
	t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", "-v", name) })

	res, err := pool.Run(ctx, target, docker.Inventory(), nil)
	require.NoError(t, err)
	require.Contains(t, string(res.Stdout), name)
	stop, err := docker.Stop(name, 1)
	require.NoError(t, err)
	res, err = pool.Run(ctx, target, stop, nil)
	require.Error(t, err)
	require.Equal(t, 126, res.ExitCode)
	require.Equal(t, "running", strings.TrimSpace(engine.Docker(t, "inspect", "--format", "{{.State.Status}}", name)))
	refusals, err := os.ReadFile(sshd.WrapperLog)
	require.NoError(t, err)
	require.Contains(t, string(refusals), "read-only key: docker stop")
}
