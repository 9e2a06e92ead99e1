package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func ptr[T any](v T) *T { return &v }

// TestDrivesAndPoolsRoundTrip stores two collections of drives, pools and datasets and reads them back: the upsert
// keeps first_seen and the last scrub, the second collection deletes what it no longer lists, and empty lists
// read as [] (the API's JSON), not null.
func TestDrivesAndPoolsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "nas")
	other := makeDevice(t, db, "pi")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)

	empty, err := store.ListDrives(ctx, db, store.DriveFilter{DeviceID: &d.ID})
	require.NoError(t, err)
	require.NotNil(t, empty)
	require.Empty(t, empty)
	_, err = store.GetDrive(ctx, db, d.ID, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	drive := func(serial, health string, temp int64, at time.Time) store.Drive {
		return store.Drive{Serial: serial, DevicePath: "/dev/" + serial, Type: "sat", Protocol: "ATA", Model: "WD",
			CapacityBytes: ptr(int64(4e12)), RotationRate: ptr(int64(5400)), TemperatureC: ptr(temp), State: "ok",
			Health: health, SMART: json.RawMessage(`{"serial":"` + serial + `"}`), ReadAt: &at, CollectedAt: at}
	}
	gone, err := store.ReplaceDrives(ctx, db, d.ID, []store.Drive{drive("A1", "ok", 30, t0), drive("B2", "warning", 31, t0)})
	require.NoError(t, err)
	require.Empty(t, gone)
	_, err = store.ReplaceDrives(ctx, db, other.ID, []store.Drive{drive("C3", "failing", 40, t0)})
	require.NoError(t, err)

	gone, err = store.ReplaceDrives(ctx, db, d.ID, []store.Drive{drive("B2", "failing", 45, t1)})
	require.NoError(t, err)
	require.Equal(t, []string{"A1"}, gone)

	got, err := store.GetDrive(ctx, db, d.ID, "B2")
	require.NoError(t, err)
	require.Equal(t, "nas", got.DeviceName)
	require.Equal(t, "failing", got.Health)
	require.Equal(t, int64(45), *got.TemperatureC)
	require.Equal(t, int64(5400), *got.RotationRate)
	require.Equal(t, []string{}, got.Reasons, "no reasons read as [], not null")
	require.True(t, got.CollectedAt.Equal(t1))
	require.True(t, got.FirstSeen.Equal(t0), "first_seen is kept by the update")
	require.JSONEq(t, `{"serial":"B2"}`, string(got.SMART))

	all, err := store.ListDrives(ctx, db, store.DriveFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, []string{"B2", "C3"}, []string{all[0].Serial, all[1].Serial}, "worst verdict, then device name")
	failing, err := store.ListDrives(ctx, db, store.DriveFilter{Health: "failing", DeviceID: &other.ID})
	require.NoError(t, err)
	require.Len(t, failing, 1)
	require.Equal(t, "C3", failing[0].Serial)

	require.NoError(t, store.InsertDriveSamples(ctx, db, d.ID, []store.DriveSample{
		{Time: t0, Serial: "B2", TemperatureC: ptr(31.0), PercentageUsed: ptr(2.5)},
		{Time: t1, Serial: "B2", TemperatureC: ptr(45.0), Reallocated: ptr(int64(8))},
	}))
	hist, err := store.DriveHistory(ctx, db, d.ID, "B2", t0, 10)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.True(t, hist[0].Time.Equal(t0), "oldest first")
	require.Equal(t, 2.5, *hist[0].PercentageUsed)
	require.Equal(t, 45.0, *hist[1].TemperatureC)
	require.Equal(t, int64(8), *hist[1].Reallocated)
	hist, err = store.DriveHistory(ctx, db, d.ID, "B2", t0, 1)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.True(t, hist[0].Time.Equal(t1), "the limit keeps the newest")
	hist, err = store.DriveHistory(ctx, db, d.ID, "A1", t0, 10)
	require.NoError(t, err)
	require.NotNil(t, hist)
	require.Empty(t, hist)

	pools, err := store.ListPools(ctx, db, store.PoolFilter{DeviceID: &d.ID})
	require.NoError(t, err)
	require.NotNil(t, pools)
	require.Empty(t, pools)
	pool := func(name, state, health string, scrub *time.Time, at time.Time) store.Pool {
		return store.Pool{Name: name, State: state, Health: health, Reasons: []string{"r"}, SizeBytes: ptr(int64(100)),
			CapacityPct: ptr(42.0), Dedup: ptr(1.0), ChecksumErrors: 2, LastScrubEnd: scrub,
			Status: json.RawMessage(`{}`), CollectedAt: at}
	}
	gonePools, err := store.ReplacePools(ctx, db, d.ID, []store.Pool{pool("tank", "ONLINE", "ok", &t0, t0),
		pool("old", "ONLINE", "ok", nil, t0)})
	require.NoError(t, err)
	require.Empty(t, gonePools)
	gonePools, err = store.ReplacePools(ctx, db, d.ID, []store.Pool{pool("tank", "DEGRADED", "warning", nil, t1)})
	require.NoError(t, err)
	require.Equal(t, []string{"old"}, gonePools)
	p, err := store.GetPool(ctx, db, d.ID, "tank")
	require.NoError(t, err)
	require.Equal(t, "DEGRADED", p.State)
	require.Equal(t, []string{"r"}, p.Reasons)
	require.Equal(t, 42.0, *p.CapacityPct)
	require.Equal(t, int64(2), p.ChecksumErrors)
	require.NotNil(t, p.LastScrubEnd, "a collection without a scrub keeps the last one")
	require.True(t, p.LastScrubEnd.Equal(t0))
	_, err = store.GetPool(ctx, db, d.ID, "old")
	require.ErrorIs(t, err, store.ErrNotFound)
	degraded, err := store.ListPools(ctx, db, store.PoolFilter{State: "DEGRADED"})
	require.NoError(t, err)
	require.Len(t, degraded, 1)
	require.NoError(t, store.InsertPoolSamples(ctx, db, d.ID, t1, []store.PoolSample{{Pool: "tank", CapacityPct: ptr(42.0)}}))

	require.NoError(t, store.ReplaceDatasets(ctx, db, d.ID, []store.Dataset{
		{Name: "tank/b", Pool: "tank", CompressRatio: ptr(1.5), SnapshotCount: 3, CollectedAt: t1},
		{Name: "tank/a", Pool: "tank", CollectedAt: t1},
	}))
	ds, err := store.ListDatasets(ctx, db, d.ID, "tank")
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.Equal(t, "tank/a", ds[0].Name)
	require.Nil(t, ds[0].CompressRatio)
	require.Equal(t, 1.5, *ds[1].CompressRatio)
	require.Equal(t, int64(3), ds[1].SnapshotCount)
	ds, err = store.ListDatasets(ctx, db, d.ID, "other")
	require.NoError(t, err)
	require.NotNil(t, ds)
	require.Empty(t, ds)

	sum, err := store.SummarizeStorage(ctx, db)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"failing": 2}, sum.DrivesByHealth)
	require.Equal(t, map[string]int{"DEGRADED": 1}, sum.PoolsByState)
	require.Equal(t, map[string]int{"warning": 1}, sum.PoolsByHealth)
}
