package activities

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/storagefake"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

func fixture(t *testing.T, sub, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.FixturesDir(t), sub, name))
	require.NoError(t, err)
	return string(b)
}

func parseDrive(t *testing.T, js string, code int) *smart.Drive {
	t.Helper()
	d, err := smart.ParseDrive([]byte(js), code)
	require.NoError(t, err)
	if d.Device == "" {
		d.Device = "/dev/sda"
	}
	return d
}

func readingOf(rs []alert.Reading, subject string) (float64, bool) {
	for _, r := range rs {
		if r.Subject == subject {
			return r.Value, true
		}
	}
	return 0, false
}

// TestPlanDrives: pending sectors on a drive whose SMART says PASSED read warning; the counter rising since the
// stored reading says so; a drive in standby keeps its last verdict; a failing drive is an event and a check.
func TestPlanDrives(t *testing.T) {
	t.Parallel()
	dev := uuid.New()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ata := fixture(t, "smartctl", "scrutiny__smart-ata.json")
	pending8 := parseDrive(t, storagefake.WithATARaw(t, ata, 197, 8), 0)
	require.True(t, *pending8.SMARTPassed)

	first := planDrives(dev, []*smart.Drive{pending8}, nil, now)
	require.Len(t, first.rows, 1)
	row := first.rows[0]
	require.Equal(t, "warning", row.Health)
	require.Contains(t, row.Reasons[0], "8 pending sectors")
	require.Len(t, first.events, 1)
	require.Equal(t, EventDriveWarning, first.events[0].Kind)
	v, ok := readingOf(first.checks[alert.CheckDriveWarning], row.Serial)
	require.True(t, ok)
	require.Equal(t, 1.0, v)
	require.Len(t, first.samples, 1)
	require.Equal(t, int64(8), *first.samples[0].Pending)

	// Next collection: the counter rose.
	pending16 := parseDrive(t, storagefake.WithATARaw(t, ata, 197, 16), 0)
	second := planDrives(dev, []*smart.Drive{pending16}, first.rows, now.Add(10*time.Minute))
	require.Equal(t, "warning", second.rows[0].Health)
	require.Contains(t, second.rows[0].Reasons, "pending sectors (attribute 197) rose from 8 to 16 since the last reading: the drive is getting worse")
	require.Empty(t, second.events, "same verdict, no event")

	// Standby: no serial read; the drive at that path keeps its verdict and reading.
	standby := &smart.Drive{Device: pending16.Device, State: smart.StateStandby, Message: "Device is in STANDBY mode, exit(2)"}
	third := planDrives(dev, []*smart.Drive{standby}, second.rows, now.Add(20*time.Minute))
	require.Len(t, third.rows, 1)
	require.Equal(t, second.rows[0].Serial, third.rows[0].Serial)
	require.Equal(t, "warning", third.rows[0].Health)
	require.Equal(t, "standby", third.rows[0].State)
	require.JSONEq(t, string(second.rows[0].SMART), string(third.rows[0].SMART), "the last reading stays the baseline")
	require.Empty(t, third.samples)
	require.Contains(t, third.rows[0].Reasons[len(third.rows[0].Reasons)-1], "standby")

	// A failing NVMe drive (critical warning) is a critical event and a failing check.
	nvme := parseDrive(t, fixture(t, "smartctl", "smartctl_exporter__nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"), 0)
	f := planDrives(dev, []*smart.Drive{nvme}, nil, now)
	require.Equal(t, "failing", f.rows[0].Health)
	require.Equal(t, EventDriveFailing, f.events[0].Kind)
	v, _ = readingOf(f.checks[alert.CheckDriveFailing], f.rows[0].Serial)
	require.Equal(t, 1.0, v)
	require.Equal(t, "1 drive (1 failing)", f.summary())
}

func statusPools(t *testing.T, text string) []zfs.Pool {
	t.Helper()
	if i := len("TEST_TIMESTAMP="); len(text) > i && text[:i] == "TEST_TIMESTAMP=" {
		for j := 0; j < len(text); j++ {
			if text[j] == '\n' {
				text = text[j+1:]
				break
			}
		}
	}
	pools, err := zfs.ParseStatus([]byte(text), time.UTC)
	require.NoError(t, err)
	return pools
}

// TestPlanPools: a degraded pool is an event and a not-online check; a scrub in progress and then finished are
// events; the scrub age is not read while a scrub runs.
func TestPlanPools(t *testing.T) {
	t.Parallel()
	dev := uuid.New()
	now := time.Date(2024, 2, 11, 12, 0, 0, 0, time.UTC)
	degraded := statusPools(t, fixture(t, "zfs", "zpool-status-exporter__zpool-status.input-01-corrupted.txt"))
	p := planPools(dev, &zfs.Collection{Pools: degraded}, nil, now)
	require.Len(t, p.rows, 1)
	require.Equal(t, "DEGRADED", p.rows[0].State)
	require.Equal(t, "failing", p.rows[0].Health)
	require.Equal(t, EventPoolDegraded, p.events[0].Kind)
	v, _ := readingOf(p.checks[alert.CheckPoolNotOnline], "dummy")
	require.Equal(t, 1.0, v)
	age, ok := readingOf(p.checks[alert.CheckPoolScrubAge], "dummy")
	require.True(t, ok)
	require.InDelta(t, 0.6, age, 0.1)

	scrubbing := statusPools(t, fixture(t, "zfs", "zpool-status-exporter__zpool-status.input-04-scrub-progress.txt"))
	before := []store.Pool{{Name: "neptune", State: "ONLINE", Status: []byte(`{"name":"neptune","state":"ONLINE"}`)}}
	s := planPools(dev, &zfs.Collection{Pools: scrubbing}, before, now)
	require.Len(t, s.events, 1)
	require.Equal(t, EventScrubStarted, s.events[0].Kind)
	_, ok = readingOf(s.checks[alert.CheckPoolScrubAge], "neptune")
	require.False(t, ok, "no scrub age while a scrub runs")

	end := now.Add(time.Hour)
	done := scrubbing
	done[0].Scan = &zfs.Scan{Function: zfs.ScanScrub, State: zfs.ScanFinished, End: &end, Errors: new(uint64)}
	f := planPools(dev, &zfs.Collection{Pools: done}, s.rows, end)
	require.Len(t, f.events, 1)
	require.Equal(t, EventScrubFinished, f.events[0].Kind)
	require.Equal(t, end, *f.rows[0].LastScrubEnd)
	age, ok = readingOf(f.checks[alert.CheckPoolScrubAge], "neptune")
	require.True(t, ok)
	require.Equal(t, 0.0, age)
}
