package activities_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// pinnedKey accepts exactly one host key, for tests that talk to one private sshd.
type pinnedKey struct{ key ssh.PublicKey }

func (p pinnedKey) CheckHostKey(_ context.Context, _ string, key ssh.PublicKey) error {
	if string(key.Marshal()) != string(p.key.Marshal()) {
		return errors.New("unexpected host key")
	}
	return nil
}

// TestReadOnlyDeviceRefusedBeforeDialling: every operation step and the image prune on a read-only device fail
// with a non-retryable DeviceReadOnly error, and the device is never dialled.
func TestReadOnlyDeviceRefusedBeforeDialling(t *testing.T) {
	ctx := context.Background()
	db := testdb.Pool(t)
	// A real listener stands in for the device: a dial would reach it and be counted.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	addr := ln.Addr().(*net.TCPAddr)
	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: "monitor-only", Host: "127.0.0.1", Port: addr.Port,
		User: "monitor", DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval,
		ReadOnly: true})
	require.NoError(t, err)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	var dials atomic.Int32
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{signer}, HostKeys: pinnedKey{}, ConnectTimeout: 2 * time.Second,
		Dialer: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	acts := &activities.Activities{DB: db, SSH: pool, Log: slog.New(slog.DiscardHandler)}

	op := activities.ContainerOpInput{DeviceID: dev.ID.String(), OperationID: uuid.NewString(), Ref: "web", Action: activities.ActionRestart}
	compose := activities.ContainerOpInput{DeviceID: dev.ID.String(), OperationID: uuid.NewString(), Project: "demo",
		Action: activities.ActionUp, WorkingDir: "/srv/demo"}
	steps := map[string]func() error{
		"precheck": func() error { _, err := acts.PrecheckContainerOp(ctx, op); return err },
		"act":      func() error { _, err := acts.ActContainerOp(ctx, activities.ActInput{Op: op}); return err },
		"verify": func() error {
			_, err := acts.VerifyContainerOp(ctx, activities.VerifyInput{Op: op, Within: time.Second})
			return err
		},
		"compose": func() error { _, err := acts.PrecheckContainerOp(ctx, compose); return err },
		"image prune": func() error {
			_, err := acts.PruneImages(ctx, activities.PruneImagesInput{DeviceID: dev.ID.String()})
			return err
		},
	}
	for name, run := range steps {
		err := run()
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "%s: %v", name, err)
		require.Equal(t, activities.ErrTypeDeviceReadOnly, ae.Type(), "%s: %v", name, err)
		require.True(t, ae.NonRetryable(), name)
		require.Contains(t, ae.Error(), "read-only", name)
	}
	require.Zero(t, dials.Load(), "a read-only device is never dialled for an operation")
}

// TestDockerHostReachesTheProxy: the device's docker_host is the DOCKER_HOST of the docker commands. The login
// environment points docker at a socket that does not exist; only the device's docker_host leads to the engine.
func TestDockerHostReachesTheProxy(t *testing.T) {
	ctx := context.Background()
	db := testdb.Pool(t)
	engine := testenv.StartDocker(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv DOCKER_HOST=unix:///nonexistent/docker.sock"}})
	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: "proxied", Host: sshd.Host, Port: sshd.Port,
		User: sshd.User, DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{sshd.ClientSigner}, HostKeys: pinnedKey{sshd.HostKey},
		ConnectTimeout: 10 * time.Second, CommandTimeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	acts := &activities.Activities{DB: db, SSH: pool, Log: slog.New(slog.DiscardHandler)}

	_, err = acts.PruneImages(ctx, activities.PruneImagesInput{DeviceID: dev.ID.String()})
	require.Error(t, err, "without docker_host the login environment's missing socket is used")

	dev.DockerHost = &engine.Host
	_, err = store.UpdateDevice(ctx, db, dev)
	require.NoError(t, err)
	res, err := acts.PruneImages(ctx, activities.PruneImagesInput{DeviceID: dev.ID.String()})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(res.Summary, "Total reclaimed space"), "summary %q", res.Summary)
}

// TestPollRefusedByDeviceWrapper: when the device's command wrapper refuses the poll script (typically an older
// wrapper than the worker's release), the poll fails with a CommandRefused error that says so and how to fix it,
// not with a bare "command failed".
func TestPollRefusedByDeviceWrapper(t *testing.T) {
	ctx := context.Background()
	db := testdb.Pool(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{Wrapper: true})
	old, err := os.ReadFile(filepath.Join(sshd.Dir, "infrastructor-wrapper"))
	require.NoError(t, err)
	// Keep the wrapper, but make it refuse the poll script as if it did not know it.
	stale := strings.Replace(string(old), "LIT_COLLECTOR='", "LIT_COLLECTOR='# an older poll script\n", 1)
	require.NotEqual(t, string(old), stale)
	require.NoError(t, os.WriteFile(filepath.Join(sshd.Dir, "infrastructor-wrapper"), []byte(stale), 0o755))

	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: "wrapped", Host: sshd.Host, Port: sshd.Port,
		User: sshd.User, DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval,
		Enabled: true})
	require.NoError(t, err)
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{sshd.ClientSigner}, HostKeys: pinnedKey{sshd.HostKey},
		ConnectTimeout: 10 * time.Second, CommandTimeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	acts := &activities.Activities{DB: db, SSH: pool, Log: slog.New(slog.DiscardHandler)}

	_, err = acts.PollDevice(ctx, activities.PollDeviceInput{DeviceID: dev.ID.String(), PollKey: "p1"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, activities.ErrTypeCommandRefused, ae.Type(), "%v", err)
	require.Contains(t, ae.Error(), "refused by the device's command wrapper")
	require.Contains(t, ae.Error(), "infrastructor device-wrapper")
	log, err := os.ReadFile(sshd.WrapperLog)
	require.NoError(t, err)
	require.Contains(t, string(log), "refused (")
}
