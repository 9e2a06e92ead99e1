package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

func someOf[T any](v T) *T { return &v }

// compactPoll is a poll with every kind of per-entity sample, including a container without rates yet.
func compactPoll(d *store.Device, key string, at time.Time) *store.PollWrite {
	w := samplesPoll(d, key, at)
	w.Metrics.Disks = []collector.DiskMetrics{
		{Name: "sda", ReadBytesPerSec: 123456.5, WriteBytesPerSec: 2e6, ReadIOPS: 12.25, WriteIOPS: 40, UtilPercent: 3.5},
		{Name: "nvme0n1", ReadBytesPerSec: 0, WriteBytesPerSec: 1, ReadIOPS: 0, WriteIOPS: 0.5, UtilPercent: 0}}
	w.Metrics.Interfaces = []collector.InterfaceMetrics{
		{Name: "eth0", RxBytesPerSec: 1.5e6, TxBytesPerSec: 250000, RxPacketsPerSec: 1000, TxPacketsPerSec: 800,
			RxErrorsPerSec: 0.25, TxErrorsPerSec: 0, RxDropsPerSec: 1, TxDropsPerSec: 2}}
	w.Metrics.UptimeSeconds, w.Metrics.Processes = someOf(12345.5), someOf(321)
	w.Containers.Samples = []store.ContainerSample{
		{ContainerID: "b2", Name: "web", CPUPercent: someOf(12.5), MemUsed: 1 << 20, MemLimit: 1 << 30, NetRxBps: someOf(100.0),
			NetTxBps: someOf(200.0), BlockReadBps: someOf(4096.0), BlockWriteBps: someOf(8192.0), PIDs: 9},
		{ContainerID: "c3", Name: "worker", MemUsed: 5 << 20, PIDs: 2}}
	return w
}

// view reads one column of a device's rows of a per-entity view, by label, as float64.
func view(t *testing.T, db *pgxpool.Pool, id uuid.UUID, at time.Time, table, label, col string) map[string]*float64 {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT `+label+`, (`+col+`)::float8 FROM `+table+
		` WHERE device_id = $1 AND time = $2`, id, at)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]*float64{}
	for rows.Next() {
		var name string
		var v *float64
		require.NoError(t, rows.Scan(&name, &v))
		out[name] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// TestCompactSamplesReadBack writes polls in the compact shape (one system row with arrays, one container row,
// names once per device) and reads every figure back through the views, QueryMetrics and LatestContainerSample,
// which read them as they read the per-entity tables before (#17). A retried poll writes nothing, and the names
// are stored once per distinct set.
func TestCompactSamplesReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "compact")
	at := time.Now().UTC().Truncate(time.Millisecond).Add(-2 * time.Minute)
	w := compactPoll(d, "k1", at)
	out, err := store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.EqualValues(t, 1+3+2+1+2+2, out.Rows, "samples: system, 3 filesystems, 2 disks, 1 interface, 2 sensors, 2 containers")

	f := func(v float64) *float64 { return &v }
	f32 := func(v float64) *float64 { return f(float64(float32(v))) }
	require.Equal(t, map[string]*float64{"/var": f(2000), "/": f(60), "/boot": f(0)},
		view(t, db, d.ID, at, "filesystem_metrics", "mountpoint", "used_bytes"))
	require.Equal(t, map[string]*float64{"/var": f(1234), "/": f(0), "/boot": f(0)},
		view(t, db, d.ID, at, "filesystem_metrics", "mountpoint", "inodes_used"))
	require.Equal(t, map[string]*float64{"/var": f(3000), "/": f(100), "/boot": f(0)},
		view(t, db, d.ID, at, "filesystem_metrics", "mountpoint", "size_bytes"))
	var source, fstype string
	require.NoError(t, db.QueryRow(ctx, `SELECT source, fstype FROM filesystem_metrics WHERE device_id = $1 AND time = $2
		AND mountpoint = '/var'`, d.ID, at).Scan(&source, &fstype))
	require.Equal(t, []string{"/dev/sdb1", "xfs"}, []string{source, fstype})
	require.Equal(t, map[string]*float64{"sda": f32(123456.5), "nvme0n1": f(0)}, view(t, db, d.ID, at, "diskio_metrics", "disk", "read_bps"))
	require.Equal(t, map[string]*float64{"sda": f(3.5), "nvme0n1": f(0)}, view(t, db, d.ID, at, "diskio_metrics", "disk", "util_pct"))
	require.Equal(t, map[string]*float64{"sda": f(40), "nvme0n1": f(0.5)}, view(t, db, d.ID, at, "diskio_metrics", "disk", "write_iops"))
	for col, want := range map[string]float64{"rx_bps": 1.5e6, "tx_bps": 250000, "rx_pps": 1000, "tx_pps": 800,
		"rx_errs_ps": 0.25, "tx_errs_ps": 0, "rx_drop_ps": 1, "tx_drop_ps": 2} {
		require.Equal(t, map[string]*float64{"eth0": f32(want)}, view(t, db, d.ID, at, "network_metrics", "iface", col), col)
	}
	require.Equal(t, map[string]*float64{"nvme/Composite": f32(45.123456789), "coretemp/Core 0": f32(81.7)},
		view(t, db, d.ID, at, "temperature_metrics", "sensor", "celsius"))
	require.Equal(t, map[string]*float64{"web": f(12.5), "worker": nil}, view(t, db, d.ID, at, "container_metrics", "name", "cpu_pct"))
	require.Equal(t, map[string]*float64{"web": f(1 << 20), "worker": f(5 << 20)}, view(t, db, d.ID, at, "container_metrics", "name", "mem_used"))
	require.Equal(t, map[string]*float64{"web": f(1 << 30), "worker": f(0)}, view(t, db, d.ID, at, "container_metrics", "name", "mem_limit"))
	require.Equal(t, map[string]*float64{"web": f(8192), "worker": nil}, view(t, db, d.ID, at, "container_metrics", "name", "blk_write_bps"))
	require.Equal(t, map[string]*float64{"web": f(9), "worker": f(2)}, view(t, db, d.ID, at, "container_metrics", "name", "pids"))
	require.Equal(t, map[string]*float64{"b2": f(100), "c3": nil}, view(t, db, d.ID, at, "container_metrics", "container_id", "net_rx_bps"))

	// The API's reads.
	q := func(metric string) map[string]float64 {
		series, src, err := store.QueryMetrics(ctx, db, store.MetricQuery{DeviceID: d.ID, Metric: metric, From: at.Add(-time.Minute),
			To: at.Add(time.Minute), Step: time.Minute})
		require.NoError(t, err)
		require.Equal(t, store.SourceRaw, src)
		got := map[string]float64{}
		for _, s := range series {
			for _, p := range s.Points {
				got[s.Label+"/"+s.Name] = *p.Avg
			}
		}
		return got
	}
	require.InDelta(t, 2000.0/2777*100, q("disk")["/var/used_percent"], 1e-9)
	require.Equal(t, float64(float32(1.5e6)), q("network")["eth0/rx_bytes_per_sec"])
	require.Equal(t, 3.5, q("diskio")["sda/util_percent"])
	require.Equal(t, float64(float32(81.7)), q("temperature")["coretemp/Core 0/celsius"])
	require.Equal(t, 12.5, q("containers")["web/cpu_percent"])
	require.Equal(t, 2.0, q("containers")["worker/pids"])
	require.Equal(t, 321.0, q("load")["/processes"])
	require.Equal(t, 12345.5, q("load")["/uptime_seconds"])
	require.Equal(t, map[string]float64{"cpu0/usage_percent": float64(float32(79.99999)), "cpu1/usage_percent": float64(float32(80.1234567))},
		q("cpu_cores"), "one series per core, named by position")
	sample, err := store.LatestContainerSample(ctx, db, d.ID, "b2")
	require.NoError(t, err)
	require.NotNil(t, sample)
	require.Equal(t, someOf(float32(12.5)), sample["cpu_percent"])
	require.Equal(t, someOf(int64(1<<20)), sample["memory_used_bytes"])
	require.Equal(t, someOf(4096.0), sample["block_read_bytes_per_sec"])
	require.Equal(t, someOf(int32(9)), sample["pids"])

	// A retried poll writes nothing; a poll with the same names stores no new names; different names are a new set,
	// and the earlier poll still reads with its own.
	labels := func() int {
		var n int
		require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM sample_labels WHERE device_id = $1`, d.ID).Scan(&n))
		return n
	}
	out, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.True(t, out.Duplicate)
	_, err = store.WritePoll(ctx, db, compactPoll(d, "k2", at.Add(30*time.Second)))
	require.NoError(t, err)
	require.Equal(t, 1, labels())
	w3 := compactPoll(d, "k3", at.Add(time.Minute))
	w3.Metrics.Filesystems = w3.Metrics.Filesystems[:1]
	w3.Containers.Samples = w3.Containers.Samples[1:]
	_, err = store.WritePoll(ctx, db, w3)
	require.NoError(t, err)
	require.Equal(t, 2, labels())
	var rows int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM system_metrics WHERE device_id = $1`, d.ID).Scan(&rows))
	require.Equal(t, 3, rows)
	require.Len(t, view(t, db, d.ID, at.Add(time.Minute), "filesystem_metrics", "mountpoint", "used_bytes"), 1)
	require.Equal(t, map[string]*float64{"worker": f(2)}, view(t, db, d.ID, at.Add(time.Minute), "container_metrics", "name", "pids"))
	require.Len(t, view(t, db, d.ID, at, "filesystem_metrics", "mountpoint", "used_bytes"), 3)
}

// TestUnchangedContainersAreNotRewritten checks that a poll rewrites only the container rows that changed (#17) and
// that readers still show every container as of the latest listing.
func TestUnchangedContainersAreNotRewritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "containers")
	at := time.Now().UTC().Truncate(time.Millisecond).Add(-5 * time.Minute)
	xmins := func() map[string]string {
		rows, err := db.Query(ctx, `SELECT name, xmin::text FROM containers WHERE device_id = $1`, d.ID)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var n, x string
			require.NoError(t, rows.Scan(&n, &x))
			out[n] = x
		}
		return out
	}
	poll := func(key string, tm time.Time, edit func([]docker.Container)) {
		t.Helper()
		w := samplesPoll(d, key, tm)
		stored, err := store.LoadContainers(ctx, db, d.ID)
		require.NoError(t, err)
		if edit != nil {
			edit(w.Containers.List)
		}
		w.Containers.Stored = stored
		_, err = store.WritePoll(ctx, db, w)
		require.NoError(t, err)
	}
	asOf := func() map[string]time.Time {
		list, _, err := store.ListContainers(ctx, db, store.ContainerFilter{DeviceID: &d.ID})
		require.NoError(t, err)
		out := map[string]time.Time{}
		for _, c := range list {
			out[c.Name] = c.UpdatedAt.UTC()
			one, err := store.GetContainer(ctx, db, d.ID, c.Name)
			require.NoError(t, err)
			require.Equal(t, c.UpdatedAt, one.UpdatedAt)
		}
		return out
	}

	poll("k1", at, nil)
	first := xmins()
	require.Len(t, first, 2)
	require.Equal(t, map[string]time.Time{"web": at, "db": at}, asOf())

	t2 := at.Add(30 * time.Second)
	poll("k2", t2, nil)
	require.Equal(t, first, xmins(), "unchanged containers were rewritten")
	require.Equal(t, map[string]time.Time{"web": t2, "db": t2}, asOf(), "the listing's time is what readers show")

	t3 := t2.Add(30 * time.Second)
	poll("k3", t3, func(l []docker.Container) { l[0].RestartCount = 4 }) // web
	third := xmins()
	require.NotEqual(t, first["web"], third["web"])
	require.Equal(t, first["db"], third["db"])
	require.Equal(t, map[string]time.Time{"web": t3, "db": t3}, asOf())
	web, err := store.GetContainer(ctx, db, d.ID, "web")
	require.NoError(t, err)
	require.Equal(t, 4, web.RestartCount)

	// A poll without a listing (docker unavailable) leaves the inventory and its time as they were.
	w := samplesPoll(d, "k4", t3.Add(30*time.Second))
	w.Containers = &store.ContainerWrite{Docker: docker.Availability{State: docker.Unknown}}
	_, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"web": t3, "db": t3}, asOf())

	// A container gone from the listing is removed.
	t5 := t3.Add(time.Minute)
	w = samplesPoll(d, "k5", t5)
	stored, err := store.LoadContainers(ctx, db, d.ID)
	require.NoError(t, err)
	w.Containers.List = w.Containers.List[:1]
	w.Containers.Stored = stored
	_, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"web": t5}, asOf())
}

// TestLoadPollCounters checks that the one read of a poll's counters returns what the two separate reads return, and
// that a poll without a container part keeps the container counters and listing time of the one before.
func TestLoadPollCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "counters")
	c, cs, err := store.LoadPollCounters(ctx, db, d.ID)
	require.NoError(t, err)
	require.Nil(t, c)
	require.Nil(t, cs)

	at := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	w := compactPoll(d, "k1", at)
	w.Counters = &collector.Counters{UptimeSeconds: 100}
	w.Containers.Counters = &docker.CgroupSnapshot{Uptime: 5 * time.Second,
		Containers: []docker.CgroupContainerStats{{ID: "b2", CPUNanos: 7}}}
	_, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	w = compactPoll(d, "k2", at.Add(30*time.Second))
	w.Counters = &collector.Counters{UptimeSeconds: 130}
	w.Containers = nil
	_, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)

	c, cs, err = store.LoadPollCounters(ctx, db, d.ID)
	require.NoError(t, err)
	one, err := store.LoadCounters(ctx, db, d.ID)
	require.NoError(t, err)
	two, err := store.LoadContainerCounters(ctx, db, d.ID)
	require.NoError(t, err)
	require.Equal(t, one, c)
	require.Equal(t, two, cs)
	require.EqualValues(t, 130, c.UptimeSeconds)
	require.Equal(t, uint64(7), cs.Containers[0].CPUNanos)
	list, _, err := store.ListContainers(ctx, db, store.ContainerFilter{DeviceID: &d.ID})
	require.NoError(t, err)
	require.NotEmpty(t, list)
	require.Equal(t, at, list[0].UpdatedAt.UTC(), "a poll without a listing does not move the inventory's time")
}

// TestRetentionPrunesUnusedLabels checks that retention deletes the names no kept sample can refer to, and keeps
// names a recent poll used again, however long ago they were first stored.
func TestRetentionPrunesUnusedLabels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "labels")
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := now.AddDate(0, 0, -40)
	_, err := store.WritePoll(ctx, db, compactPoll(d, "k1", old))
	require.NoError(t, err)
	w := compactPoll(d, "k2", old.Add(30*time.Second))
	w.Metrics.Disks = nil // another set of names, used only 40 days ago
	_, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	_, err = store.WritePoll(ctx, db, compactPoll(d, "k3", now)) // the first set again, today
	require.NoError(t, err)
	days := func() []string {
		rows, err := db.Query(ctx, `SELECT used_on::text FROM sample_labels WHERE device_id = $1 ORDER BY used_on`, d.ID)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	require.Equal(t, []string{old.Format(time.DateOnly), now.Format(time.DateOnly)}, days())

	_, err = store.ApplyRetention(ctx, db, now, store.DefaultRetention)
	require.NoError(t, err)
	require.Equal(t, []string{now.Format(time.DateOnly)}, days())
	require.Len(t, view(t, db, d.ID, now, "diskio_metrics", "disk", "util_pct"), 2, "today's poll reads its names")
}
