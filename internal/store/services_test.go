package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func serviceEvents(t *testing.T, db store.DBTX, id uuid.UUID, since int64) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT kind || ' ' || coalesce(data->>'unit', '') || ' ' || severity
		FROM events WHERE device_id = $1 AND id > $2 ORDER BY id`, id, since)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	return out
}

func TestReplaceServicesRecordsChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "units")
	n := func(v int64) *int64 { return &v }
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ok := store.Service{Unit: "ssh.service", ActiveState: "active", SubState: "running", Watched: true, Level: "ok", NRestarts: n(0)}
	failed := store.Service{Unit: "backup.service", ActiveState: "failed", SubState: "failed", Failed: true, Level: "warning"}

	// First collection: only what is wrong is an event.
	changes, err := store.ReplaceServices(ctx, db, d.ID, store.SystemdState{Available: true, FailedCount: 1, CollectedAt: t0},
		[]store.Service{ok, failed})
	require.NoError(t, err)
	require.Len(t, changes, 1)
	require.Equal(t, []string{"service.failed backup.service warning"}, serviceEvents(t, db, d.ID, 0))
	list, sd, err := store.ListServices(ctx, db, d.ID)
	require.NoError(t, err)
	require.True(t, sd.Available)
	require.Equal(t, []string{"backup.service", "ssh.service"}, []string{list[0].Unit, list[1].Unit}, "worst first")

	// The same state again: nothing.
	changes, err = store.ReplaceServices(ctx, db, d.ID, store.SystemdState{Available: true, FailedCount: 1, CollectedAt: t0.Add(time.Minute)},
		[]store.Service{ok, failed})
	require.NoError(t, err)
	require.Empty(t, changes)

	// ssh restarted on its own twice and then went down; backup recovered.
	var last int64
	require.NoError(t, db.QueryRow(ctx, `SELECT max(id) FROM events WHERE device_id = $1`, d.ID).Scan(&last))
	restarted := ok
	restarted.NRestarts = n(2)
	_, err = store.ReplaceServices(ctx, db, d.ID, store.SystemdState{Available: true, CollectedAt: t0.Add(2 * time.Minute)},
		[]store.Service{restarted})
	require.NoError(t, err)
	down := restarted
	down.ActiveState, down.SubState, down.Level = "inactive", "dead", "critical"
	_, err = store.ReplaceServices(ctx, db, d.ID, store.SystemdState{Available: true, CollectedAt: t0.Add(3 * time.Minute)},
		[]store.Service{down})
	require.NoError(t, err)
	require.Equal(t, []string{"service.gone backup.service info", "service.changed ssh.service warning",
		"service.changed ssh.service critical"}, serviceEvents(t, db, d.ID, last))

	// systemd gone: reported as a state and an event, its units dropped.
	require.NoError(t, db.QueryRow(ctx, `SELECT max(id) FROM events WHERE device_id = $1`, d.ID).Scan(&last))
	_, err = store.ReplaceServices(ctx, db, d.ID, store.SystemdState{Available: false, CollectedAt: t0.Add(4 * time.Minute)}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"systemd.unavailable  warning"}, serviceEvents(t, db, d.ID, last))
	list, sd, err = store.ListServices(ctx, db, d.ID)
	require.NoError(t, err)
	require.False(t, sd.Available)
	require.Empty(t, list)
}

func TestWatchedUnitsJoinTagLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "watcher")
	_, err := db.Exec(ctx, `UPDATE devices SET tags = '{web,edge}' WHERE id = $1`, d.ID)
	require.NoError(t, err)
	require.NoError(t, store.SetDeviceWatchedUnits(ctx, db, d.ID, []string{"nginx.service", "nginx.service", "a.service"}))
	require.NoError(t, store.SetTagWatchedUnits(ctx, db, "web", []string{"php-fpm.service", "nginx.service"}))
	require.NoError(t, store.SetTagWatchedUnits(ctx, db, "other", []string{"x.service"}))
	got, err := store.WatchedUnits(ctx, db, d.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"a.service", "nginx.service", "php-fpm.service"}, got)
	own, err := store.DeviceWatchedUnits(ctx, db, d.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"a.service", "nginx.service"}, own)
	require.NoError(t, store.SetTagWatchedUnits(ctx, db, "web", nil))
	tags, err := store.TagWatchedUnits(ctx, db)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{"other": {"x.service"}}, tags)
	require.ErrorIs(t, store.SetDeviceWatchedUnits(ctx, db, uuid.New(), nil), store.ErrNotFound)
}

func TestProcessSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "procs")
	now := time.Now().UTC()
	body := json.RawMessage(`{"source":"proc"}`)
	old := &store.ProcessSnapshot{ID: uuid.New(), DeviceID: d.ID, TakenAt: now.Add(-8 * 24 * time.Hour), Body: body}
	require.NoError(t, store.InsertProcessSnapshot(ctx, db, old))
	cur := &store.ProcessSnapshot{ID: uuid.New(), DeviceID: d.ID, TakenAt: now, Body: body}
	require.NoError(t, store.InsertProcessSnapshot(ctx, db, cur))
	require.NoError(t, store.InsertProcessSnapshot(ctx, db, cur), "a retried insert is one snapshot")
	req := &store.ProcessSnapshot{ID: uuid.New(), DeviceID: d.ID, TakenAt: now, Requested: true, Body: body}
	require.NoError(t, store.InsertProcessSnapshot(ctx, db, req))

	latest, err := store.LatestProcessSnapshot(ctx, db, d.ID)
	require.NoError(t, err)
	require.Equal(t, cur.ID, latest.ID, "an answer to a request is not the device's snapshot")
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM process_snapshots WHERE device_id = $1 AND NOT requested`, d.ID).Scan(&n))
	require.Equal(t, 1, n, "snapshots past retention are dropped")

	_, err = store.TakeProcessSnapshot(ctx, db, cur.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "only requested listings are taken")
	got, err := store.TakeProcessSnapshot(ctx, db, req.ID)
	require.NoError(t, err)
	require.JSONEq(t, string(body), string(got.Body))
	_, err = store.TakeProcessSnapshot(ctx, db, req.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "read once")
}
