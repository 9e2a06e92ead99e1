package zfs

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

// fixtureNow is "now" for verdicts of fixtures without a recorded time.
var fixtureNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// stripHarness removes the "TEST_TIMESTAMP=<epoch>" line that zpool-status-exporter's test harness puts
// before the zpool output, and returns that time (or fixtureNow).
func stripHarness(b []byte) ([]byte, time.Time) {
	const prefix = "TEST_TIMESTAMP="
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return b, fixtureNow
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, fixtureNow
	}
	now := fixtureNow
	if sec, err := strconv.ParseInt(string(b[len(prefix):nl]), 10, 64); err == nil && sec > 0 {
		now = time.Unix(sec, 0).UTC()
	}
	return b[nl+1:], now
}

type poolResult struct {
	Pool    Pool    `json:"pool"`
	Verdict Verdict `json:"verdict"`
}

func statusResults(pools []Pool, now time.Time) []poolResult {
	out := []poolResult{}
	for i := range pools {
		out = append(out, poolResult{pools[i], AssessPool(&pools[i], nil, now)})
	}
	return out
}

func isStatusFixture(name string) bool {
	return strings.Contains(name, "zpool-status") || strings.Contains(name, "zpool_status")
}
func isListFixture(name string) bool { return strings.Contains(name, "zpool-list") }
func isSnapshotFixture(name string) bool {
	return strings.Contains(name, "zfs_list") && strings.Contains(name, "snapshot")
}

// TestGoldenShared parses every zfs file of the shared recorded fixtures; a file no parser claims fails.
func TestGoldenShared(t *testing.T) {
	for _, path := range files(t, sharedFixtures(t, "zfs")) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			b := golden.Read(t, path)
			switch {
			case isStatusFixture(name):
				b, now := stripHarness(b)
				pools, err := ParseStatus(b, time.UTC)
				require.NoError(t, err)
				require.NotEmpty(t, pools)
				golden.JSON(t, "shared__"+name, statusResults(pools, now))
			case isListFixture(name):
				rows, err := ParseList(b)
				require.NoError(t, err)
				require.NotEmpty(t, rows)
				golden.JSON(t, "shared__"+name, rows)
			case isSnapshotFixture(name):
				sum, err := SummarizeSnapshots(bytes.NewReader(b))
				require.NoError(t, err)
				page, next, err := ListSnapshots(bytes.NewReader(b), "", "", 3)
				require.NoError(t, err)
				golden.JSON(t, "shared__"+name, map[string]any{"summary": sum, "first_page": page, "next": next})
			default:
				t.Fatalf("no parser claims fixture %s", name)
			}
		})
	}
}

// TestGoldenDerived parses the hand-derived zpool status -j samples.
func TestGoldenDerived(t *testing.T) {
	for _, path := range files(t, filepath.Join("testdata", "derived")) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			pools, err := ParseStatusJSON(golden.Read(t, path), time.UTC)
			require.NoError(t, err)
			require.NotEmpty(t, pools)
			golden.JSON(t, "derived__"+name, statusResults(pools, fixtureNow))
		})
	}
}

// TestPoolVerdicts pins state, scan and verdict of each zpool status fixture.
func TestPoolVerdicts(t *testing.T) {
	dir := sharedFixtures(t, "zfs")
	type want struct {
		pool     string
		state    string
		scan     ScanState // "" for no scan
		function ScanFunction
		health   Health
		reason   string
	}
	cases := map[string][]want{
		"zpool-status-exporter__zpool-status.input-01-corrupted.txt": {
			{"dummy", "DEGRADED", ScanFinished, ScanScrub, HealthFailing, "DEGRADED"}},
		"zpool-status-exporter__zpool-status.input-02-online-data-corruption.txt": {
			{"jeremy", "ONLINE", ScanFinished, ScanScrub, HealthFailing, "1 data errors"}},
		"zpool-status-exporter__zpool-status.input-04-scrub-progress.txt": {
			{"neptune", "ONLINE", ScanInProgress, ScanScrub, HealthOK, ""}},
		"zpool-status-exporter__zpool-status.input-07-unavail.txt": {
			{"mypool", "DEGRADED", ScanFinished, ScanScrub, HealthFailing, "100980 checksum errors on 12345678901234567890"}},
		"zpool-status-exporter__zpool-status.input-09-scrub-cancel.txt": {
			{"neptune", "ONLINE", ScanCanceled, ScanScrub, HealthWarning, "canceled"}},
		"zpool-status-exporter__zpool-status.input-10-new-pool.txt": {
			{"milton", "ONLINE", "", "", HealthWarning, "no scrub on record"}},
		"textfile-scripts__zpool_status_-p": {
			{"pool0", "ONLINE", ScanFinished, ScanScrub, HealthWarning, "the last scrub finished"},
			{"pool1", "ONLINE", ScanFinished, ScanScrub, HealthWarning, "the last scrub finished"}},
		"textfile-scripts__zpool_status_-p_degraded_sparse": {
			{"test", "DEGRADED", ScanFinished, ScanResilver, HealthFailing, "1 checksum errors on ata-VBOX_HARDDISK_VBb80f1f56-538e9acf"}},
		"textfile-scripts__zpool_status_-p_logs": {
			{"zones", "DEGRADED", ScanFinished, ScanScrub, HealthFailing, "DEGRADED"}},
		"jc__zpool-status-v4.out": {
			{"pool1", "ONLINE", ScanFinished, ScanScrub, HealthWarning, "days ago"}},
		"jc__zpool-status-v.out": {
			{"zhgstera6", "ONLINE", ScanCanceled, ScanScrub, HealthWarning, "canceled"},
			{"zint500", "ONLINE", ScanFinished, ScanScrub, HealthWarning, "days ago"},
			{"zsam53", "ONLINE", ScanFinished, ScanScrub, HealthWarning, "days ago"}},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			b, now := stripHarness(golden.Read(t, filepath.Join(dir, file)))
			pools, err := ParseStatus(b, time.UTC)
			require.NoError(t, err)
			require.Len(t, pools, len(wants))
			for i, w := range wants {
				p := pools[i]
				require.Equal(t, w.pool, p.Name)
				require.Equal(t, w.state, p.State)
				if w.scan == "" {
					require.Nil(t, p.Scan)
				} else {
					require.NotNil(t, p.Scan)
					require.Equal(t, w.scan, p.Scan.State)
					require.Equal(t, w.function, p.Scan.Function)
				}
				v := AssessPool(&p, nil, now)
				require.Equal(t, w.health, v.Health, "reasons %q", v.Reasons)
				if w.reason == "" {
					require.Empty(t, v.Reasons)
				} else {
					require.Contains(t, strings.Join(v.Reasons, "\n"), w.reason)
				}
			}
		})
	}
}

// TestScanInProgress checks the numbers of a running scrub.
func TestScanInProgress(t *testing.T) {
	b, _ := stripHarness(golden.Read(t, filepath.Join(sharedFixtures(t, "zfs"), "zpool-status-exporter__zpool-status.input-04-scrub-progress.txt")))
	pools, err := ParseStatus(b, time.UTC)
	require.NoError(t, err)
	s := pools[0].Scan
	require.Equal(t, time.Date(2024, 2, 11, 11, 54, 20, 0, time.UTC), *s.Start)
	require.Nil(t, s.End)
	require.Equal(t, uint64(704<<30), *s.ScannedBytes)
	require.Equal(t, uint64(0), *s.IssuedBytes)
	require.Equal(t, 0.0, *s.ProgressPercent)
}

// TestScanFinishedTimes checks start = end - duration for the duration formats zpool has used.
func TestScanFinishedTimes(t *testing.T) {
	cases := map[string]time.Duration{
		"scrub repaired 0B in 08:37:48 with 0 errors on Sun Nov  3 15:24:53 2024":       8*time.Hour + 37*time.Minute + 48*time.Second,
		"scrub repaired 0 in 0 days 00:19:47 with 0 errors on Tue Aug 16 00:20:50 2022": 19*time.Minute + 47*time.Second,
		"scrub repaired 0 in 1 days 02:00:00 with 0 errors on Tue Aug 16 00:20:50 2022": 26 * time.Hour,
		"scrub repaired 0B in 14h7m with 1 errors on Sun Feb  4 20:54:25 2024":          14*time.Hour + 7*time.Minute,
		"resilvered 25.8M in 0h0m with 0 errors on Fri Aug 22 12:02:46 2014":            0,
	}
	for text, d := range cases {
		s := parseScanText(text, time.UTC)
		require.NotNil(t, s, text)
		require.NotNil(t, s.End, text)
		require.NotNil(t, s.Start, text)
		require.Equal(t, d, s.End.Sub(*s.Start), text)
	}
	require.Nil(t, parseScanText("none requested", time.UTC))
	old := parseScanText("scrub in progress since Mon Jan  1 00:00:00 2018 1.23T scanned out of 2.00T at 100M/s, 1h2m to go 0 repaired, 61.50% done", time.UTC)
	require.NotNil(t, old)
	require.Equal(t, 61.5, *old.ProgressPercent)
	require.Equal(t, uint64(2<<40), *old.TotalBytes)
	res := parseScanText("resilver in progress since Mon Jan  1 00:00:00 2018 100G / 1T scanned at 1G/s, 50G / 1T issued at 500M/s 50G resilvered, 4.88% done, 00:30:00 to go", time.UTC)
	require.NotNil(t, res)
	require.Equal(t, ScanResilver, res.Function)
	require.Equal(t, 4.88, *res.ProgressPercent)
}

func TestParseStatusJSONShape(t *testing.T) {
	pools, err := ParseStatusJSON(golden.Read(t, filepath.Join("testdata", "derived", "zpool-status-j.json")), time.UTC)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	p := pools[0]
	require.Equal(t, "DEGRADED", p.State)
	require.Equal(t, "One or more devices are faulted in response to persistent errors. Sufficient replicas exist for the pool to continue functioning in a degraded state.", p.Status)
	require.Equal(t, ScanInProgress, p.Scan.State)
	require.InDelta(t, 40.0, *p.Scan.ProgressPercent, 0.01)
	require.Len(t, p.Root.Children, 1)
	require.Len(t, p.Root.Children[0].Children, 3)
	require.Equal(t, uint64(27), p.Root.Children[0].Children[1].Checksum)
	require.Len(t, p.Logs, 1)
	require.Len(t, p.Cache, 1)
	require.Len(t, p.Spares, 1)
	v := AssessPool(&p, nil, fixtureNow)
	require.Equal(t, HealthFailing, v.Health)

	pools, err = ParseStatusJSON(golden.Read(t, filepath.Join("testdata", "derived", "zpool-status-j-int.json")), time.UTC)
	require.NoError(t, err)
	s := pools[0].Scan
	require.Equal(t, ScanFinished, s.State)
	require.Equal(t, time.Unix(1740899123, 0).UTC(), *s.End)
	require.Equal(t, HealthOK, AssessPool(&pools[0], nil, s.End.Add(24*time.Hour)).Health)
	require.Equal(t, HealthWarning, AssessPool(&pools[0], nil, s.End.Add(36*24*time.Hour)).Health)
}

func TestAssessPoolRules(t *testing.T) {
	end := fixtureNow.Add(-24 * time.Hour)
	clean := func() *Pool {
		return &Pool{Name: "p", State: "ONLINE", Root: &Vdev{Name: "p", State: "ONLINE"},
			Scan: &Scan{Function: ScanScrub, State: ScanFinished, End: &end}}
	}
	pct := func(v float64) *PoolUsage { return &PoolUsage{CapacityPercent: &v} }
	cases := []struct {
		name   string
		pool   func() *Pool
		usage  *PoolUsage
		health Health
		reason string
	}{
		{"clean", clean, pct(50), HealthOK, ""},
		{"capacity 80", clean, pct(80), HealthWarning, "80% full"},
		{"capacity 90", clean, pct(90), HealthFailing, "90% full"},
		{"faulted", func() *Pool { p := clean(); p.State = "FAULTED"; return p }, nil, HealthFailing, "FAULTED"},
		{"suspended", func() *Pool { p := clean(); p.State = "SUSPENDED"; return p }, nil, HealthFailing, "SUSPENDED"},
		{"unavail", func() *Pool { p := clean(); p.State = "UNAVAIL"; return p }, nil, HealthFailing, "UNAVAIL"},
		{"removed", func() *Pool { p := clean(); p.State = "REMOVED"; return p }, nil, HealthFailing, "REMOVED"},
		{"offline", func() *Pool { p := clean(); p.State = "OFFLINE"; return p }, nil, HealthWarning, "OFFLINE"},
		{"read errors", func() *Pool { p := clean(); p.Root.Children = []Vdev{{Name: "sda", Read: 2}}; return p }, nil, HealthWarning, "2 read/write errors on sda"},
		{"checksum on log", func() *Pool { p := clean(); p.Logs = []Vdev{{Name: "nvme0", Checksum: 1}}; return p }, nil, HealthFailing, "checksum errors on nvme0"},
		{"scrub errors", func() *Pool { p := clean(); n := uint64(3); p.Scan.Errors = &n; return p }, nil, HealthFailing, "found 3 errors"},
		{"old scrub", func() *Pool { p := clean(); e := fixtureNow.Add(-36 * 24 * time.Hour); p.Scan.End = &e; return p }, nil, HealthWarning, "36 days ago"},
		{"scrub 35 days", func() *Pool { p := clean(); e := fixtureNow.Add(-35 * 24 * time.Hour); p.Scan.End = &e; return p }, nil, HealthOK, ""},
		{"resilvering", func() *Pool { p := clean(); p.Scan = &Scan{Function: ScanResilver, State: ScanInProgress}; return p }, nil, HealthWarning, "resilver is in progress"},
		{"resilvered", func() *Pool {
			p := clean()
			p.Scan = &Scan{Function: ScanResilver, State: ScanFinished, End: &end}
			return p
		}, nil, HealthWarning, "last scan was a resilver"},
		{"no state", func() *Pool { return &Pool{Name: "p"} }, nil, HealthUnknown, "did not report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := AssessPool(c.pool(), c.usage, fixtureNow)
			require.Equal(t, c.health, v.Health, "reasons %q", v.Reasons)
			if c.reason == "" {
				require.Empty(t, v.Reasons)
			} else {
				require.Contains(t, strings.Join(v.Reasons, "\n"), c.reason)
			}
		})
	}
}

func TestParseListHeaderless(t *testing.T) {
	rows, err := ParseList([]byte("tank\t21367462298\t9051643576\t12240656794\t33\t42\t1.00\tONLINE\nzion\t-\t-\t-\t-\t-\t-\tFAULTED\n"))
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, uint64(21367462298), *rows[0].SizeBytes)
	require.Equal(t, 42.0, *rows[0].CapacityPercent)
	require.Equal(t, 1.0, *rows[0].Dedup)
	require.Equal(t, "FAULTED", rows[1].Health)
	require.Nil(t, rows[1].SizeBytes)
}

func TestParseDatasets(t *testing.T) {
	ds, err := ParseDatasets([]byte("tank\t1000\t2000\t96\t1.00x\t/tank\ntank/vol\t8192\t2000\t4096\t1.52x\t-\nbroken line\n"))
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.Equal(t, "/tank", ds[0].Mountpoint)
	require.Equal(t, 1.52, *ds[1].CompressRatio)
	require.Equal(t, "", ds[1].Mountpoint)
}

func TestParseStatusEdgeCases(t *testing.T) {
	pools, err := ParseStatus([]byte("no pools available\n"), nil)
	require.NoError(t, err)
	require.Empty(t, pools)

	// -v lists one damaged file per line after "Permanent errors".
	pools, err = ParseStatus([]byte(`  pool: tank
 state: ONLINE
  scan: scrub repaired 0B in 00:01:00 with 2 errors on Sun Feb  4 20:54:25 2024
config:

	NAME        STATE     READ WRITE CKSUM
	tank        ONLINE       0     0     0
	  sda       ONLINE       0     0     2

errors: Permanent errors have been detected in the following files:

        /tank/photos/a.jpg
        tank/data:<0x5>
`), nil)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	require.Equal(t, uint64(2), *pools[0].DataErrors)
	require.Equal(t, uint64(2), pools[0].Root.Children[0].Checksum)
}

func TestJSONRefused(t *testing.T) {
	require.True(t, JSONRefused([]byte("invalid option 'j'\nusage:\n\tstatus [-c [script1,script2,...]] ...")))
	require.False(t, JSONRefused([]byte(`{"output_version":{"command":"zpool status"}}`)))
}
