package collector

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// addSeeds adds the recorded script outputs and, when present, the shared
// fixture files matching the suffixes.
func addSeeds(f *testing.F, sub string, suffixes ...string) {
	f.Helper()
	for _, name := range []string{"local-sh.out", "local-busybox.out"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil && sub == "" {
			f.Add(b)
		}
	}
	if sub == "" {
		return
	}
	fx, ok := testenv.OptionalFixturesDir(f)
	if !ok {
		return // fixtures absent outside CI: the inline seeds still run
	}
	dir := filepath.Join(fx, sub)
	entries, err := os.ReadDir(dir)
	require.NoError(f, err)
	for _, e := range entries {
		for _, s := range suffixes {
			if len(e.Name()) >= len(s) && e.Name()[len(e.Name())-len(s):] == s {
				if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
					f.Add(b)
				}
			}
		}
	}
}

func finiteRate(t *testing.T, v float64, what string) {
	t.Helper()
	require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s = %v", what, v)
	require.GreaterOrEqual(t, v, 0.0, what)
}

func checkPercent(t *testing.T, v float64, what string) {
	t.Helper()
	finiteRate(t, v, what)
	require.LessOrEqual(t, v, 100.0, what)
}

// FuzzParse feeds arbitrary output to Parse, then computes rates against
// the recorded snapshot: neither may panic, and any rate produced must be
// finite and non-negative, with percentages at most 100.
func FuzzParse(f *testing.F) {
	addSeeds(f, "")
	f.Add([]byte("@@infra:end@@\n"))
	f.Add([]byte("@@infra:stat@@\ncpu 1 2 3 4\ncpu0 1 2 3 4\n@@infra:uptime@@\n5 5\n@@infra:end@@\n"))
	base, err := os.ReadFile(filepath.Join("testdata", "local-sh.out"))
	require.NoError(f, err)
	prevSnap, err := Parse(base)
	require.NoError(f, err)
	prev := prevSnap.Counters()
	f.Fuzz(func(t *testing.T, out []byte) {
		s, err := Parse(out)
		if err != nil {
			require.Nil(t, s)
			return
		}
		for _, p := range []*Counters{nil, prev, s.Counters()} {
			m := Compute(p, s)
			if m.CPU != nil {
				checkPercent(t, m.CPU.UsagePercent, "cpu usage")
				checkPercent(t, m.CPU.IOWaitPercent, "iowait")
				for _, c := range m.CPU.Cores {
					checkPercent(t, c.UsagePercent, "core usage")
				}
			}
			if m.Memory != nil {
				checkPercent(t, m.Memory.UsedPercent, "memory used")
				require.LessOrEqual(t, m.Memory.UsedBytes, m.Memory.TotalBytes)
			}
			for _, fs := range m.Filesystems {
				checkPercent(t, fs.UsedPercent, "fs used")
			}
			for _, i := range m.Interfaces {
				finiteRate(t, i.RxBytesPerSec, "rx")
				finiteRate(t, i.TxBytesPerSec, "tx")
			}
			for _, d := range m.Disks {
				finiteRate(t, d.ReadBytesPerSec, "disk read")
				checkPercent(t, d.UtilPercent, "disk util")
			}
		}
	})
}

func fuzzSection[T any](f *testing.F, parse func([]byte) (T, error)) {
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parse(b)
	})
}

// FuzzParseStat checks ParseStat never panics.
func FuzzParseStat(f *testing.F) {
	addSeeds(f, "proc", ".stat", ".stat2")
	fuzzSection(f, ParseStat)
}

// FuzzParseMeminfo checks ParseMeminfo never panics.
func FuzzParseMeminfo(f *testing.F) {
	addSeeds(f, "proc", ".meminfo")
	fuzzSection(f, ParseMeminfo)
}

// FuzzParseNetDev checks ParseNetDev never panics.
func FuzzParseNetDev(f *testing.F) {
	addSeeds(f, "proc", ".net.dev", ".net_dev")
	fuzzSection(f, ParseNetDev)
}

// FuzzParseDiskstats checks ParseDiskstats never panics.
func FuzzParseDiskstats(f *testing.F) {
	addSeeds(f, "proc", ".diskstats")
	fuzzSection(f, ParseDiskstats)
}

// FuzzParseDF checks ParseDF never panics and that Filesystems accepts
// whatever it returns.
func FuzzParseDF(f *testing.F) {
	addSeeds(f, "df", ".out")
	f.Add([]byte("Filesystem Type 1024-blocks Used Available Capacity Mounted on\nmy disk ext4 10 5 5 50% /mnt/a b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := ParseDF(b)
		if err == nil {
			Filesystems(tb, tb, nil)
		}
	})
}

// FuzzParseOSRelease checks ParseOSRelease never panics.
func FuzzParseOSRelease(f *testing.F) {
	addSeeds(f, "os-release", "os-release")
	fuzzSection(f, ParseOSRelease)
}

// FuzzParseHwmon checks the hwmon and thermal parsers never panic.
func FuzzParseHwmon(f *testing.F) {
	f.Add([]byte("/sys/class/hwmon/hwmon0/temp1_input\tcoretemp\tcoretemp.0\t55000\tCore 0\n"))
	f.Add([]byte("thermal_zone0\t-44000\tacpitz\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseHwmon(b)
		_, _ = ParseThermal(b)
	})
}
