package activities

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// sshDevice starts a private sshd with extra config lines, stores a device for it and returns the device and a
// runScript over the real SSH pool, the way InventoryEnv.Run reaches a device.
func sshDevice(t *testing.T, db store.DBTX, name string, extra ...string) (*store.Device, runScript) {
	t.Helper()
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: extra})
	ctx := context.Background()
	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: name, Host: sshd.Host, Port: sshd.Port, User: sshd.User,
		DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	keys := sshpool.NewPinnedKeys()
	keys.Pin(dev.ID.String(), sshd.HostKey)
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{sshd.ClientSigner}, HostKeys: keys,
		ConnectTimeout: 30 * time.Second, CommandTimeout: 2 * time.Minute, MaxOutputBytes: 4 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	target := sshpool.Target{DeviceID: dev.ID.String(), Host: sshd.Host, Port: sshd.Port, User: sshd.User}
	return dev, func(ctx context.Context, script string) (*sshpool.Result, error) {
		// As the worker's deviceRunner: a command that ran comes back with its exit status.
		res, err := pool.Run(ctx, target, script, nil)
		if sshpool.KindOf(err) == sshpool.CommandFailed && res != nil {
			return res, nil
		}
		return res, err
	}
}

// TestCollectUpdatesOverSSH runs the updates collector against a real sshd whose login user's apt reads a local
// file: repository built with dpkg-deb (the device's environment carries APT_CONFIG through sshd's SetEnv, so
// the product's unchanged script runs): one security and one regular update are stored, security first; the
// streaks start, the events are written once, and the readings count days from the streak's start.
func TestCollectUpdatesOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	if os.Geteuid() != 0 {
		t.Skip("the repository's lists are fetched as root")
	}
	conf := testenv.SharedAptRepo(t, []testenv.DebPackage{
		{Name: "hello-infra", Version: "1.1-1", Suite: "stable"},
		{Name: "libinfra1", Version: "2.0-2", Suite: "stable-security"},
	}, map[string]string{"hello-infra": "1.0-1", "libinfra1": "2.0-1"})
	db := testdb.Pool(t)
	dev, run := sshDevice(t, db, "apt-host", "SetEnv APT_CONFIG="+conf)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	got, err := collectUpdates(ctx, db, dev, t0, run)
	require.NoError(t, err)
	require.Equal(t, "apt: 2 updates (1 security)", got.summary)
	require.Contains(t, got.checks, CheckSecurityUpdates)
	require.Len(t, got.checks[CheckSecurityUpdates], 1)
	require.Zero(t, got.checks[CheckSecurityUpdates][0].Value)

	u, err := store.GetUpdates(ctx, db, dev.ID)
	require.NoError(t, err)
	require.Equal(t, "apt", u.Manager)
	require.Equal(t, 2, u.Total)
	require.Equal(t, 1, u.Security)
	require.Equal(t, []pkgupdate.Update{
		{Name: "libinfra1", Arch: "all", Current: "2.0-1", Candidate: "2.0-2", Security: true, Origin: "Infra:12.4/stable-security"},
		{Name: "hello-infra", Arch: "all", Current: "1.0-1", Candidate: "1.1-1", Origin: "Infra:12.4/stable"},
	}, u.Updates)
	require.NotNil(t, u.ListsUpdated, "the lists' age is reported")
	require.NotNil(t, u.SecuritySince)
	require.True(t, u.SecuritySince.Equal(t0))
	require.Equal(t, "not-required", u.Reboot)

	// Ten days later the streak continues: the reading is 10 days, and no second event is written.
	got, err = collectUpdates(ctx, db, dev, t0.Add(240*time.Hour), run)
	require.NoError(t, err)
	require.InDelta(t, 10.0, got.checks[CheckSecurityUpdates][0].Value, 1e-9)
	evs, _, err := store.ListEvents(ctx, db, store.EventFilter{DeviceID: &dev.ID, Kind: EventSecurityUpdates})
	require.NoError(t, err)
	require.Len(t, evs, 1)

	fleet, err := store.ListUpdates(ctx, db, store.UpdatesFilter{SecurityOnly: true})
	require.NoError(t, err)
	require.Len(t, fleet, 1)
	require.Equal(t, "apt-host", fleet[0].DeviceName)
}
