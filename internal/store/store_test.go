package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// TestMain is in housekeeping_test.go.

func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return testdb.Pool(t)
}

func makeDevice(t *testing.T, db store.DBTX, name string) *store.Device {
	t.Helper()
	d, err := store.CreateDevice(context.Background(), db, &store.Device{Name: name, Host: "192.0.2.1", Port: 22, User: "root",
		DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	return d
}

func TestErrorsMapToSentinels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "Alpha")

	_, err := store.GetDevice(ctx, db, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = store.GetDeviceByName(ctx, db, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err := store.GetDeviceByName(ctx, db, "ALPHA")
	require.NoError(t, err)
	require.Equal(t, d.ID, got.ID)

	_, err = store.CreateDevice(ctx, db, &store.Device{Name: "alpha", Host: "h", Port: 22, User: "u", DeviceType: "linux",
		PollInterval: time.Minute, HostKeyPolicy: store.PolicyRequireApproval})
	require.ErrorIs(t, err, store.ErrConflict, "names are unique regardless of case")

	require.ErrorIs(t, store.DeleteDevice(ctx, db, uuid.New()), store.ErrNotFound)
	_, err = store.RevokeToken(ctx, db, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)

	// An event for a device that does not exist is a missing device, not an SQL error.
	missing := uuid.New()
	err = store.InsertEvent(ctx, db, &store.Event{DeviceID: &missing, Kind: "x", Message: "m"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = store.SetDeviceStatus(ctx, db, missing, store.StatusOnline, "", nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestTokenBySecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	now := time.Now()
	secret, err := store.NewSecret()
	require.NoError(t, err)
	exp := now.Add(time.Hour)
	tok, err := store.CreateToken(ctx, db, "t", []string{store.ScopeOperate}, &exp, secret)
	require.NoError(t, err)
	require.Nil(t, tok.LastUsedAt)

	got, err := store.TokenBySecret(ctx, db, secret, now)
	require.NoError(t, err)
	require.Equal(t, tok.ID, got.ID)
	require.NotNil(t, got.LastUsedAt, "use is recorded")
	require.True(t, got.Has(store.ScopeRead))
	require.True(t, got.Has(store.ScopeOperate))
	require.False(t, got.Has(store.ScopeAdmin))

	for name, when := range map[string]time.Time{"at expiry": exp, "after expiry": exp.Add(time.Second)} {
		_, err = store.TokenBySecret(ctx, db, secret, when)
		require.ErrorIs(t, err, store.ErrNotFound, name)
	}
	for _, s := range []string{"", "short", secret + "x", secret[:len(secret)-1]} {
		_, err = store.TokenBySecret(ctx, db, s, now)
		require.ErrorIs(t, err, store.ErrNotFound, "secret %q", s)
	}
	_, err = store.RevokeToken(ctx, db, tok.ID)
	require.NoError(t, err)
	_, err = store.TokenBySecret(ctx, db, secret, now)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Two secrets never collide, and each is long enough to be unguessable.
	other, err := store.NewSecret()
	require.NoError(t, err)
	require.NotEqual(t, secret, other)
	require.GreaterOrEqual(t, len(secret), len(store.TokenPrefix)+43)

	// EnsureTokenSecret is idempotent.
	own := "an-admin-secret-that-is-long-enough-0123"
	require.NoError(t, store.EnsureTokenSecret(ctx, db, "boot", own))
	require.NoError(t, store.EnsureTokenSecret(ctx, db, "boot", own))
	n, err := store.CountTokens(ctx, db)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	got, err = store.TokenBySecret(ctx, db, own, now)
	require.NoError(t, err)
	require.True(t, got.Has(store.ScopeAdmin))
}

func TestSetDeviceStatusKeepsLastSeenMonotonic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "d")
	t1 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	t0 := t1.Add(-time.Hour)

	prev, err := store.SetDeviceStatus(ctx, db, d.ID, store.StatusOnline, "", &t1)
	require.NoError(t, err)
	require.Equal(t, store.StatusUnknown, prev)
	prev, err = store.SetDeviceStatus(ctx, db, d.ID, store.StatusOffline, "timeout", &t0)
	require.NoError(t, err)
	require.Equal(t, store.StatusOnline, prev)
	prev, err = store.SetDeviceStatus(ctx, db, d.ID, store.StatusOffline, "timeout", nil)
	require.NoError(t, err)
	require.Equal(t, store.StatusOffline, prev)

	got, err := store.GetDevice(ctx, db, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusOffline, got.Status)
	require.Equal(t, "timeout", got.StatusReason)
	require.NotNil(t, got.LastSeen)
	require.True(t, t1.Equal(*got.LastSeen), "an older sighting never moves last_seen back: %v", got.LastSeen)
}

func TestListEventsFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	a, b := makeDevice(t, db, "a"), makeDevice(t, db, "b")
	add := func(d *store.Device, kind, severity string) int64 {
		e := &store.Event{DeviceID: &d.ID, Kind: kind, Severity: severity, Message: kind, Data: json.RawMessage(`{"k":1}`)}
		require.NoError(t, store.InsertEvent(ctx, db, e))
		return e.ID
	}
	add(a, store.EventDeviceOnline, "")
	add(a, store.EventHostKeyPending, "warning")
	add(b, store.EventHostKeyChanged, "critical")
	add(b, "host_keyring.other", "info") // shares a prefix of characters, not of dotted segments

	kinds := func(f store.EventFilter) []string {
		t.Helper()
		evs, _, err := store.ListEvents(ctx, db, f)
		require.NoError(t, err)
		out := []string{}
		for _, e := range evs {
			out = append(out, e.Kind)
		}
		return out
	}
	require.Equal(t, []string{"host_keyring.other", store.EventHostKeyChanged, store.EventHostKeyPending, store.EventDeviceOnline},
		kinds(store.EventFilter{}), "newest first")
	require.Equal(t, []string{store.EventHostKeyChanged, store.EventHostKeyPending}, kinds(store.EventFilter{Kind: "host_key"}))
	require.Equal(t, []string{store.EventHostKeyPending}, kinds(store.EventFilter{Kind: store.EventHostKeyPending}))
	require.Equal(t, []string{store.EventHostKeyPending, store.EventDeviceOnline}, kinds(store.EventFilter{DeviceID: &a.ID}))
	require.Equal(t, []string{store.EventHostKeyChanged}, kinds(store.EventFilter{Severity: "critical"}))
	require.Equal(t, []string{store.EventDeviceOnline}, kinds(store.EventFilter{Severity: "info", DeviceID: &a.ID}))
	future := time.Now().Add(time.Hour)
	require.Empty(t, kinds(store.EventFilter{Since: &future}))
	require.Len(t, kinds(store.EventFilter{Until: &future}), 4)

	// Pages by id cursor cover every event once.
	var seen []int64
	f := store.EventFilter{Limit: 3}
	for {
		evs, next, err := store.ListEvents(ctx, db, f)
		require.NoError(t, err)
		for _, e := range evs {
			seen = append(seen, e.ID)
		}
		if next == 0 {
			break
		}
		f.Before = next
	}
	require.Len(t, seen, 4)
	for i := 1; i < len(seen); i++ {
		require.Greater(t, seen[i-1], seen[i])
	}

	// Deleting a device removes its events with it.
	require.NoError(t, store.DeleteDevice(ctx, db, b.ID))
	require.Len(t, kinds(store.EventFilter{}), 2)
}

func TestEnsurePartitionsCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	from := time.Now().AddDate(0, 0, 100)
	n, err := store.EnsurePartitions(ctx, db, from, 1)
	require.NoError(t, err)
	require.Positive(t, n)
	require.Zero(t, n%2, "two days per table")
	n, err = store.EnsurePartitions(ctx, db, from, 1)
	require.NoError(t, err)
	require.Zero(t, n)
}
