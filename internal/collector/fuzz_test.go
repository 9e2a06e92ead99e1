package collector

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// Every section parser has a fuzz target and a TestFault<Parser>Malformed test (#15). Both check, whatever the
// input: no panic, every list within its limit, every string within MaxFieldBytes, and allocation at most
// allocPerInputByte per input byte plus allocFixed. The fuzz targets run their seed corpus (recorded outputs,
// the shared fixtures, testdata/fuzz) in plain go test; the fault tests feed faultInputs mutations of the same
// seeds.

// faultInputs is how many malformed inputs each TestFault*Malformed test feeds.
const faultInputs = 10000

// Allocation allowed to a parser: allocPerInputByte times the input plus allocFixed. Measured over the fuzz
// corpus and the malformed inputs, with and without -race; the bound leaves a wide margin. What it catches is
// growth faster than the input, such as a short text expanding into many entries.
const (
	allocPerInputByte = 128
	allocFixed        = 1 << 20
)

// parserCheck is one parser under test: its seeds, a call of the parser (the part whose allocation is
// measured) and a check of what it returned without error.
type parserCheck struct {
	seeds [][]byte
	parse func(b []byte) (any, error)
	check func(t testing.TB, v any)
	// maxErr bounds the length of an error message, when set.
	maxErr int
}

// recordedSection returns section name of the recorded script outputs.
func recordedSections(tb testing.TB, name string) [][]byte {
	var out [][]byte
	for _, f := range []string{"local-sh.out", "local-busybox.out"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		require.NoError(tb, err)
		secs, _, err := splitSections(b)
		require.NoError(tb, err)
		if s, ok := secs[name]; ok && len(s.data) > 0 {
			out = append(out, s.data)
		}
	}
	return out
}

// fixtureSeeds returns the shared fixture files in sub whose names end with one of the suffixes; none when
// the fixtures are absent outside CI (in CI their absence fails the test).
func fixtureSeeds(tb testing.TB, sub string, suffixes ...string) [][]byte {
	tb.Helper()
	fx, ok := testenv.OptionalFixturesDir(tb)
	if !ok {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(fx, sub))
	require.NoError(tb, err)
	var out [][]byte
	for _, e := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				if b, err := os.ReadFile(filepath.Join(fx, sub, e.Name())); err == nil {
					out = append(out, b)
				}
				break
			}
		}
	}
	return out
}

func seeds(tb testing.TB, section string, extra [][]byte, inline ...string) [][]byte {
	out := append(recordedSections(tb, section), extra...)
	for _, s := range inline {
		out = append(out, []byte(s))
	}
	return out
}

func checkCPU(t testing.TB, v any) {
	st := v.(*CPUStat)
	require.LessOrEqual(t, len(st.Cores), MaxCPUs)
}

func checkNetDev(t testing.TB, v any) {
	ns := v.([]NetDev)
	require.LessOrEqual(t, len(ns), MaxInterfaces)
	for _, n := range ns {
		malformed.CheckText(t, "interface", n.Name, MaxFieldBytes)
	}
}

func checkDisks(t testing.TB, v any) {
	ds := v.([]DiskStat)
	require.LessOrEqual(t, len(ds), MaxDisks)
	for _, d := range ds {
		malformed.CheckText(t, "disk", d.Name, MaxFieldBytes)
	}
}

func checkTemps(t testing.TB, v any) {
	ts := v.([]Temperature)
	require.LessOrEqual(t, len(ts), MaxSensors)
	for _, x := range ts {
		for _, s := range []string{x.Chip, x.Label, x.Device, x.instance} {
			malformed.CheckText(t, "sensor field", s, MaxFieldBytes)
		}
		// chip/label plus " #instance" and " #n" when names collide.
		malformed.CheckText(t, "sensor", x.Sensor, 3*MaxFieldBytes+32)
	}
}

func checkDF(t testing.TB, v any) {
	tb := v.(*DFTable)
	require.LessOrEqual(t, len(tb.Rows), MaxMounts)
	for _, r := range tb.Rows {
		for _, s := range []string{r.Source, r.FSType, r.Mount} {
			malformed.CheckText(t, "df field", s, MaxFieldBytes)
		}
	}
	fs := Filesystems(tb, tb, nil)
	require.LessOrEqual(t, len(fs), MaxFilesystems)
}

func checkOSRelease(t testing.TB, v any) {
	r := v.(*OSRelease)
	for _, s := range []string{r.ID, r.IDLike, r.Name, r.PrettyName, r.Version, r.VersionID, r.VersionCodename} {
		malformed.CheckText(t, "os-release value", s, MaxFieldBytes)
	}
}

func checkCaps(t testing.TB, v any) {
	c := v.(*Capabilities)
	for _, s := range []string{c.OSID, c.OSLike, c.OSName, c.OSVersion, c.OSPrettyName, c.Kernel, c.Arch, c.Hostname,
		c.CPUModel, c.Board} {
		malformed.CheckText(t, "capability", s, MaxFieldBytes)
	}
	require.LessOrEqual(t, len(c.Commands), MaxCommands)
	for k, p := range c.Commands {
		malformed.CheckText(t, "command", k, MaxFieldBytes)
		malformed.CheckText(t, "command path", p, MaxFieldBytes)
	}
}

func checkSnapshot(t testing.TB, v any) {
	s := v.(*Snapshot)
	if s.CPU != nil {
		checkCPU(t, s.CPU)
	}
	checkNetDev(t, s.Interfaces)
	checkDisks(t, s.Disks)
	checkTemps(t, s.Temperatures)
	require.LessOrEqual(t, len(s.Filesystems), MaxFilesystems)
	for _, f := range s.Filesystems {
		for _, x := range []string{f.Mount, f.Source, f.FSType} {
			malformed.CheckText(t, "filesystem field", x, MaxFieldBytes)
		}
	}
	if s.Capabilities != nil {
		checkCaps(t, s.Capabilities)
	}
	checkComputed(t, s)
}

// checkComputed computes rates against the recorded snapshot and the snapshot itself: any rate produced
// must be finite and non-negative, with percentages at most 100.
func checkComputed(t testing.TB, s *Snapshot) {
	for _, p := range []*Counters{nil, recordedCounters(t), s.Counters()} {
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
}

var recordedSnapshot = sync.OnceValues(func() (*Snapshot, error) {
	base, err := os.ReadFile(filepath.Join("testdata", "local-sh.out"))
	if err != nil {
		return nil, err
	}
	return Parse(base)
})

// recordedCounters are the counters of the recorded local-sh.out.
func recordedCounters(t testing.TB) *Counters {
	s, err := recordedSnapshot()
	require.NoError(t, err)
	return s.Counters()
}

func finiteRate(t testing.TB, v float64, what string) {
	t.Helper()
	require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s = %v", what, v)
	require.GreaterOrEqual(t, v, 0.0, what)
}

func checkPercent(t testing.TB, v float64, what string) {
	t.Helper()
	finiteRate(t, v, what)
	require.LessOrEqual(t, v, 100.0, what)
}

func noCheck(testing.TB, any) {}

var collectorParsers = map[string]func(tb testing.TB) parserCheck{
	"Parse": func(tb testing.TB) parserCheck {
		var whole [][]byte
		for _, f := range []string{"local-sh.out", "local-busybox.out"} {
			b, err := os.ReadFile(filepath.Join("testdata", f))
			require.NoError(tb, err)
			whole = append(whole, b)
		}
		whole = append(whole, []byte("@@infra:end@@\n"),
			[]byte("@@infra:stat@@\ncpu 1 2 3 4\ncpu0 1 2 3 4\n@@infra:uptime@@\n5 5\n@@infra:end@@\n"),
			[]byte("@@infra:hwmon@@\n/sys/class/hwmon/hwmon0/temp1_input\tcoretemp\tcoretemp.0\t55000\tCore 0\n"+
				"@@infra:thermal@@\nthermal_zone0\t44000\tacpitz\n@@infra:newer_section@@\nx\n@@infra:end@@\n"))
		return parserCheck{seeds: whole, parse: func(b []byte) (any, error) { return Parse(b) }, check: checkSnapshot,
			maxErr: maxErrorBytes + len("...")}
	},
	"ParseTime": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionTime, nil, "1700000000\n", "1700000000.5\n"),
			parse: func(b []byte) (any, error) { return ParseTime(b) }, check: noCheck}
	},
	"ParseUptime": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionUptime, fixtureSeeds(tb, "proc", ".uptime")),
			parse: func(b []byte) (any, error) { return ParseUptime(b) }, check: noCheck}
	},
	"ParseStat": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionStat, fixtureSeeds(tb, "proc", ".stat", ".stat2")),
			parse: func(b []byte) (any, error) { return ParseStat(b) }, check: checkCPU}
	},
	"ParseMeminfo": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionMeminfo, fixtureSeeds(tb, "proc", ".meminfo")),
			parse: func(b []byte) (any, error) { return ParseMeminfo(b) }, check: noCheck}
	},
	"ParseLoadavg": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionLoadavg, fixtureSeeds(tb, "proc", ".loadavg")),
			parse: func(b []byte) (any, error) { return ParseLoadavg(b) }, check: noCheck}
	},
	"ParseProcs": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionProcs, nil, "123\n"),
			parse: func(b []byte) (any, error) { return ParseProcs(b) }, check: noCheck}
	},
	"ParseNetDev": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionNetDev, fixtureSeeds(tb, "proc", ".net.dev", ".net_dev")),
			parse: func(b []byte) (any, error) { return ParseNetDev(b) }, check: checkNetDev}
	},
	"ParseDiskstats": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionDiskstats, fixtureSeeds(tb, "proc", ".diskstats")),
			parse: func(b []byte) (any, error) { return ParseDiskstats(b) }, check: checkDisks}
	},
	"ParseMounts": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionMounts, nil, "/dev/sda1 /mnt/a\\040b ext4 rw 0 0\n"),
			parse: func(b []byte) (any, error) { return ParseMounts(b) },
			check: func(t testing.TB, v any) {
				ms := v.([]Mount)
				require.LessOrEqual(t, len(ms), MaxMounts)
				for _, m := range ms {
					for _, s := range []string{m.Source, m.Mount, m.FSType, m.Options} {
						malformed.CheckText(t, "mount field", s, MaxFieldBytes)
					}
				}
			}}
	},
	"ParseARCStats": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionARCStats, fixtureSeeds(tb, "proc", ".arcstats"), "h\nname type data\nsize 4 100\n"),
			parse: func(b []byte) (any, error) { return ParseARCStats(b) }, check: noCheck}
	},
	"ParseHwmon": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionHwmon, nil,
			"/sys/class/hwmon/hwmon0/temp1_input\tcoretemp\tcoretemp.0\t55000\tCore 0\n"+
				"/sys/class/hwmon/hwmon1/temp1_input\tcoretemp\tcoretemp.1\t56000\tCore 0\n"),
			parse: func(b []byte) (any, error) { return ParseHwmon(b) }, check: checkTemps}
	},
	"ParseThermal": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionThermal, nil, "thermal_zone0\t44000\tacpitz\nthermal_zone1\t45000\tacpitz\n"),
			parse: func(b []byte) (any, error) { return ParseThermal(b) }, check: checkTemps}
	},
	"ParseDF": func(tb testing.TB) parserCheck {
		s := append(seeds(tb, SectionDF, fixtureSeeds(tb, "df", ".out"),
			"Filesystem Type 1024-blocks Used Available Capacity Mounted on\nmy disk ext4 10 5 5 50% /mnt/a b\n"),
			recordedSections(tb, SectionDFInodes)...)
		return parserCheck{seeds: s, parse: func(b []byte) (any, error) { return ParseDF(b) }, check: checkDF}
	},
	"ParseOSRelease": func(tb testing.TB) parserCheck {
		return parserCheck{seeds: seeds(tb, SectionOSRelease, fixtureSeeds(tb, "os-release", "os-release")),
			parse: func(b []byte) (any, error) { return ParseOSRelease(b) }, check: checkOSRelease}
	},
	"ParseCapabilities": func(tb testing.TB) parserCheck {
		osr := &OSRelease{ID: "slackware", Name: "Slackware"}
		return parserCheck{seeds: seeds(tb, SectionCaps, nil, "unraid_version=\"6.12.4\"\ncmd_docker=/usr/bin/docker\n"),
			parse: func(b []byte) (any, error) { return ParseCapabilities(b, osr) }, check: checkCaps}
	},
}

// checkBounded runs the parser on b, fails when it allocated more than the allocation bound, and checks what it
// returned.
func checkBounded(t testing.TB, pc parserCheck, b []byte) {
	t.Helper()
	var v any
	var err error
	alloc := malformed.Allocated(func() { v, err = pc.parse(b) })
	if alloc > malformed.Bound(len(b), allocPerInputByte, allocFixed) {
		t.Fatalf("allocated %d bytes for %d bytes of input (bound %d); input starts %q", alloc, len(b), malformed.Bound(len(b), allocPerInputByte, allocFixed),
			clipString(string(b), 200))
	}
	if err != nil {
		if pc.maxErr > 0 {
			malformed.CheckText(t, "error", err.Error(), pc.maxErr)
		}
		return
	}
	pc.check(t, v)
}

func fuzzParser(f *testing.F, name string) {
	pc := collectorParsers[name](f)
	for _, s := range pc.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkBounded(t, pc, b) })
}

func faultMalformed(t *testing.T, name string, seed uint64) {
	pc := collectorParsers[name](t)
	require.NotEmpty(t, pc.seeds)
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on malformed input %d of seed %d (malformed.Inputs replays it)", cur, seed)
		}
	})
	for i, b := range malformed.Inputs(pc.seeds, faultInputs, seed) {
		cur = i
		checkBounded(t, pc, b)
	}
}

// FuzzParse checks Parse (the whole script output) and Compute over its result.
func FuzzParse(f *testing.F) { fuzzParser(f, "Parse") }

// FuzzParseTime checks ParseTime.
func FuzzParseTime(f *testing.F) { fuzzParser(f, "ParseTime") }

// FuzzParseUptime checks ParseUptime.
func FuzzParseUptime(f *testing.F) { fuzzParser(f, "ParseUptime") }

// FuzzParseStat checks ParseStat.
func FuzzParseStat(f *testing.F) { fuzzParser(f, "ParseStat") }

// FuzzParseMeminfo checks ParseMeminfo.
func FuzzParseMeminfo(f *testing.F) { fuzzParser(f, "ParseMeminfo") }

// FuzzParseLoadavg checks ParseLoadavg.
func FuzzParseLoadavg(f *testing.F) { fuzzParser(f, "ParseLoadavg") }

// FuzzParseProcs checks ParseProcs.
func FuzzParseProcs(f *testing.F) { fuzzParser(f, "ParseProcs") }

// FuzzParseNetDev checks ParseNetDev.
func FuzzParseNetDev(f *testing.F) { fuzzParser(f, "ParseNetDev") }

// FuzzParseDiskstats checks ParseDiskstats.
func FuzzParseDiskstats(f *testing.F) { fuzzParser(f, "ParseDiskstats") }

// FuzzParseMounts checks ParseMounts.
func FuzzParseMounts(f *testing.F) { fuzzParser(f, "ParseMounts") }

// FuzzParseARCStats checks ParseARCStats.
func FuzzParseARCStats(f *testing.F) { fuzzParser(f, "ParseARCStats") }

// FuzzParseHwmon checks ParseHwmon.
func FuzzParseHwmon(f *testing.F) { fuzzParser(f, "ParseHwmon") }

// FuzzParseThermal checks ParseThermal.
func FuzzParseThermal(f *testing.F) { fuzzParser(f, "ParseThermal") }

// FuzzParseDF checks ParseDF and Filesystems over its result.
func FuzzParseDF(f *testing.F) { fuzzParser(f, "ParseDF") }

// FuzzParseOSRelease checks ParseOSRelease.
func FuzzParseOSRelease(f *testing.F) { fuzzParser(f, "ParseOSRelease") }

// FuzzParseCapabilities checks ParseCapabilities.
func FuzzParseCapabilities(f *testing.F) { fuzzParser(f, "ParseCapabilities") }

// The fault-matrix row "10,000 malformed outputs per parser": one test per parser.

func TestFaultParseMalformed(t *testing.T)             { faultMalformed(t, "Parse", 101) }
func TestFaultParseTimeMalformed(t *testing.T)         { faultMalformed(t, "ParseTime", 102) }
func TestFaultParseUptimeMalformed(t *testing.T)       { faultMalformed(t, "ParseUptime", 103) }
func TestFaultParseStatMalformed(t *testing.T)         { faultMalformed(t, "ParseStat", 104) }
func TestFaultParseMeminfoMalformed(t *testing.T)      { faultMalformed(t, "ParseMeminfo", 105) }
func TestFaultParseLoadavgMalformed(t *testing.T)      { faultMalformed(t, "ParseLoadavg", 106) }
func TestFaultParseProcsMalformed(t *testing.T)        { faultMalformed(t, "ParseProcs", 107) }
func TestFaultParseNetDevMalformed(t *testing.T)       { faultMalformed(t, "ParseNetDev", 108) }
func TestFaultParseDiskstatsMalformed(t *testing.T)    { faultMalformed(t, "ParseDiskstats", 109) }
func TestFaultParseMountsMalformed(t *testing.T)       { faultMalformed(t, "ParseMounts", 110) }
func TestFaultParseARCStatsMalformed(t *testing.T)     { faultMalformed(t, "ParseARCStats", 111) }
func TestFaultParseHwmonMalformed(t *testing.T)        { faultMalformed(t, "ParseHwmon", 112) }
func TestFaultParseThermalMalformed(t *testing.T)      { faultMalformed(t, "ParseThermal", 113) }
func TestFaultParseDFMalformed(t *testing.T)           { faultMalformed(t, "ParseDF", 114) }
func TestFaultParseOSReleaseMalformed(t *testing.T)    { faultMalformed(t, "ParseOSRelease", 115) }
func TestFaultParseCapabilitiesMalformed(t *testing.T) { faultMalformed(t, "ParseCapabilities", 116) }
