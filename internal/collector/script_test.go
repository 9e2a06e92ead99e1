package collector

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

var record = flag.Bool("record", false, "re-record testdata/local-*.out by running Script on this machine")

// shells are the shells the script must run under: the system sh (dash on
// Debian) and BusyBox ash as found on Alpine, OpenWrt and rescue systems.
var shells = []struct {
	name string
	argv []string
}{
	{"sh", []string{"sh", "-c"}},
	{"busybox", []string{"/bin/busybox", "sh", "-c"}},
}

func runScript(t *testing.T, argv []string, script string) []byte {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Skipf("%s not installed: %v", argv[0], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], script)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr: %s", stderr.String())
	require.Empty(t, stderr.String(), "the script discards its own stderr")
	return out
}

// checkSane asserts what any Linux machine's snapshot must look like.
func checkSane(t *testing.T, s *Snapshot) {
	t.Helper()
	require.False(t, s.Time.IsZero())
	require.NotNil(t, s.Uptime)
	require.Positive(t, s.Uptime.Seconds)
	require.NotNil(t, s.CPU)
	require.NotEmpty(t, s.CPU.Cores)
	require.Positive(t, s.CPU.Total.Total())
	require.NotNil(t, s.Memory)
	require.Positive(t, s.Memory.TotalBytes)
	require.LessOrEqual(t, s.Memory.AvailableBytes, s.Memory.TotalBytes)
	require.NotNil(t, s.Load)
	require.NotNil(t, s.Processes)
	require.Positive(t, *s.Processes)
	require.NotEmpty(t, s.Filesystems)
	for _, f := range s.Filesystems {
		require.NotEqual(t, "tmpfs", f.FSType)
		require.NotEqual(t, "proc", f.FSType)
		require.Positive(t, f.SizeBytes, f.Mount)
	}
	for _, i := range s.Interfaces {
		require.NotEqual(t, "lo", i.Name)
	}
	require.NotNil(t, s.Capabilities)
	require.NotEmpty(t, s.Capabilities.Kernel)
	require.NotEmpty(t, s.Capabilities.Arch)
	require.Equal(t, len(s.CPU.Cores), s.Capabilities.CPUCount)
	require.Equal(t, s.Memory.TotalBytes, s.Capabilities.MemoryTotalBytes)
}

// TestScriptLive runs Script on this machine under each shell, parses the
// output, and computes rates from two consecutive runs.
func TestScriptLive(t *testing.T) {
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			first, err := Parse(runScript(t, sh.argv, Script))
			require.NoError(t, err)
			checkSane(t, first)
			if _, err := os.Stat("/proc/spl/kstat/zfs/arcstats"); err == nil {
				require.NotNil(t, first.ARC)
			} else {
				require.Contains(t, first.Unavailable, SectionARCStats)
			}

			// Poll again until every core has accumulated CPU ticks
			// (USER_HZ is 100: a few hundred milliseconds).
			var second *Snapshot
			deadline := time.Now().Add(20 * time.Second)
			for {
				second, err = Parse(runScript(t, sh.argv, Script))
				require.NoError(t, err)
				if second.Uptime.Seconds-first.Uptime.Seconds >= 0.5 {
					break
				}
				require.False(t, time.Now().After(deadline), "uptime did not advance")
			}
			m := Compute(first.Counters(), second)
			require.False(t, m.Reset)
			require.Positive(t, m.IntervalSeconds)
			require.NotNil(t, m.CPU)
			require.GreaterOrEqual(t, m.CPU.UsagePercent, 0.0)
			require.LessOrEqual(t, m.CPU.UsagePercent, 100.0)
			require.Len(t, m.CPU.Cores, len(second.CPU.Cores))
			// Rates exist for the interfaces present in both samples; other tests add and remove veth links on this
			// host while this one runs, so the two samples may list different interfaces.
			both := 0
			for _, cur := range second.Interfaces {
				for _, prev := range first.Interfaces {
					if prev.Name == cur.Name {
						both++
						break
					}
				}
			}
			require.Len(t, m.Interfaces, both)
			for _, i := range m.Interfaces {
				require.GreaterOrEqual(t, i.RxBytesPerSec, 0.0)
			}
		})
	}
}

// TestRecordedOutputs parses outputs of Script recorded on the development
// machine (Debian 12 in a VM, no hwmon, no ZFS) under dash and BusyBox
// ash. Run with -record to refresh them.
func TestRecordedOutputs(t *testing.T) {
	for _, sh := range shells {
		path := filepath.Join("testdata", "local-"+sh.name+".out")
		t.Run(sh.name, func(t *testing.T) {
			if *record {
				require.NoError(t, os.WriteFile(path, runScript(t, sh.argv, Script), 0o644))
			}
			out, err := os.ReadFile(path)
			require.NoError(t, err)
			s, err := Parse(out)
			require.NoError(t, err)
			checkSane(t, s)
			require.Equal(t, "debian", s.Capabilities.OSID)
			require.Equal(t, []string{SectionARCStats}, s.Unavailable)
			if sh.name == "busybox" {
				// BusyBox date has no %N: whole seconds.
				require.Zero(t, s.Time.Nanosecond())
			}
			golden.JSON(t, "local/"+sh.name, s)
		})
	}
}

// fakeRoot rewrites the script's absolute paths of optional sources into
// root, so the real shell loops can be run against recorded sysfs and ZFS
// files.
func fakeRoot(root string) string {
	r := strings.NewReplacer(
		"/sys/class/", root+"/sys/class/",
		"/proc/spl/", root+"/proc/spl/",
		"/etc/os-release", root+"/etc/os-release",
		"/usr/lib/os-release", root+"/usr/lib/os-release",
		"/etc/unraid-version", root+"/etc/unraid-version",
		"/proc/device-tree/", root+"/proc/device-tree/",
	)
	return r.Replace(Script)
}

type fakeFile struct {
	path    string // under the fake root
	fixture string // file under the shared fixtures, or
	content string // literal content
}

// hwmonDevice links hwmonN/device to a device directory named as on the
// recorded machine (from the fixtures README).
type hwmonLink struct{ hwmon, device string }

func buildRoot(t *testing.T, files []fakeFile, links []hwmonLink) string {
	t.Helper()
	fx := fixturesDir(t)
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f.path)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		content := []byte(f.content)
		if f.fixture != "" {
			var err error
			content, err = os.ReadFile(filepath.Join(fx, f.fixture))
			require.NoError(t, err)
		}
		require.NoError(t, os.WriteFile(p, content, 0o644))
	}
	for _, l := range links {
		dev := filepath.Join(root, "sys", "devices", l.device)
		require.NoError(t, os.MkdirAll(dev, 0o755))
		require.NoError(t, os.Symlink(dev, filepath.Join(root, "sys", "class", "hwmon", l.hwmon, "device")))
	}
	return root
}

// sysFixtures maps the flattened sys fixture files with the given prefix
// to their sysfs paths.
func sysFixtures(t *testing.T, prefix, dir string) []fakeFile {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(fixturesDir(t), "sys"))
	require.NoError(t, err)
	var out []fakeFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		// rest is "<sub>.<attr>", e.g. "hwmon0.temp1_input".
		sub, attr, ok := strings.Cut(rest, ".")
		require.True(t, ok, e.Name())
		out = append(out, fakeFile{path: filepath.Join(dir, sub, attr), fixture: filepath.Join("sys", e.Name())})
	}
	require.NotEmpty(t, out, prefix)
	return out
}

// TestScriptFakeRoot runs the real script, under each shell, against
// recorded hwmon, thermal, ZFS and os-release files of other machines
// placed in a scratch directory, and checks the parsed result against
// golden files. This exercises the shell loops the development machine
// cannot (it has no hwmon, thermal zones or ZFS).
func TestScriptFakeRoot(t *testing.T) {
	hosts := []struct {
		name  string
		files func(t *testing.T) []fakeFile
		links []hwmonLink
		check func(t *testing.T, s *Snapshot)
	}{
		{
			// Two-socket Intel server (coretemp x2), Super-I/O without
			// temperatures, Wi-Fi PHY sensors, an ARM cpu-thermal zone.
			name: "node_exporter-sysfs",
			files: func(t *testing.T) []fakeFile {
				f := sysFixtures(t, "node_exporter__sys.class.hwmon.", "sys/class/hwmon")
				f = append(f, sysFixtures(t, "node_exporter__sys.class.thermal.", "sys/class/thermal")...)
				return append(f, fakeFile{path: "etc/os-release", fixture: "os-release/node_exporter__usr.lib.os-release"})
			},
			links: []hwmonLink{
				{"hwmon0", "platform/coretemp.0"}, {"hwmon1", "platform/coretemp.1"},
				{"hwmon3", "platform/nct6775.656"}, {"hwmon6", "platform/asus-nb-wmi"},
			},
			check: func(t *testing.T, s *Snapshot) {
				require.Equal(t, "ubuntu", s.Capabilities.OSID)
				var names []string
				for _, tp := range s.Temperatures {
					names = append(names, tp.Sensor)
				}
				require.Contains(t, names, "coretemp/Core 0 #coretemp.0")
				require.Contains(t, names, "coretemp/Core 0 #coretemp.1")
				require.Contains(t, names, "thermal/cpu-thermal")
				require.Len(t, s.Temperatures, 10+2+3+1)
			},
		},
		{
			// Raspberry Pi SoC zone, an ACPI zone below zero, an NVMe
			// drive's hwmon; ZFS with an ARC; Raspbian.
			name: "procfs-sysfs-zfs",
			files: func(t *testing.T) []fakeFile {
				f := sysFixtures(t, "procfs__nvme0.", "sys/class/hwmon")
				f = append(f, sysFixtures(t, "procfs__sys.class.thermal.", "sys/class/thermal")...)
				return append(f,
					fakeFile{path: "proc/spl/kstat/zfs/arcstats", fixture: "proc/node_exporter__proc.spl.kstat.zfs.arcstats"},
					fakeFile{path: "usr/lib/os-release", fixture: "os-release/go-sysinfo__raspbian9.usr.lib.os-release"},
					fakeFile{path: "proc/device-tree/model", content: "Raspberry Pi 4 Model B Rev 1.4\x00"},
				)
			},
			links: []hwmonLink{{"hwmon3", "pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0"}},
			check: func(t *testing.T, s *Snapshot) {
				require.NotNil(t, s.ARC)
				require.True(t, s.Capabilities.HasZFS)
				require.Equal(t, s.ARC.SizeBytes, s.Memory.ARCSizeBytes)
				require.Equal(t, "raspbian", s.Capabilities.OSID)
				require.Equal(t, "Raspberry Pi 4 Model B Rev 1.4", s.Capabilities.Board)
				require.Equal(t, Temperature{Sensor: "thermal/acpitz", Source: "thermal", Chip: "thermal", Label: "acpitz",
					Device: "thermal_zone1", Celsius: -44, instance: "thermal_zone1"}, s.Temperatures[len(s.Temperatures)-1])
				require.Equal(t, "nvme/Composite", s.Temperatures[0].Sensor)
				require.Equal(t, "nvme0", s.Temperatures[0].Device)
				require.InDelta(t, 43.85, s.Temperatures[0].Celsius, 1e-9)
			},
		},
		{
			// A minimal system: no os-release, no sensors, no ZFS.
			name:  "bare",
			files: func(t *testing.T) []fakeFile { return nil },
			check: func(t *testing.T, s *Snapshot) {
				require.Equal(t, "linux", s.Capabilities.OSID)
				require.Contains(t, s.Unavailable, SectionOSRelease)
				require.Contains(t, s.Unavailable, SectionARCStats)
				require.Empty(t, s.Temperatures)
			},
		},
		{
			name: "unraid",
			files: func(t *testing.T) []fakeFile {
				return []fakeFile{
					{path: "etc/os-release", fixture: "os-release/distro__slackware14.etc.os-release"},
					{path: "etc/unraid-version", content: "version=\"6.12.6\"\n"},
				}
			},
			check: func(t *testing.T, s *Snapshot) {
				require.Equal(t, "unraid", s.Capabilities.OSID)
				require.Equal(t, "6.12.6", s.Capabilities.OSVersion)
				require.Equal(t, "slackware", s.Capabilities.OSLike)
				require.Empty(t, s.Temperatures)
			},
		},
	}
	for _, h := range hosts {
		for _, sh := range shells {
			t.Run(h.name+"/"+sh.name, func(t *testing.T) {
				root := buildRoot(t, h.files(t), h.links)
				s, err := Parse(runScript(t, sh.argv, fakeRoot(root)))
				require.NoError(t, err)
				checkSane(t, s)
				h.check(t, s)
				golden.JSON(t, "fakeroot/"+h.name, struct {
					Temperatures []Temperature `json:"temperatures"`
					ARC          *ARCStats     `json:"arc"`
					OSID         string        `json:"os_id"`
					OSVersion    string        `json:"os_version"`
					Board        string        `json:"board"`
				}{s.Temperatures, s.ARC, s.Capabilities.OSID, s.Capabilities.OSVersion, s.Capabilities.Board})
			})
		}
	}
}

func TestParseErrors(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "local-sh.out"))
	require.NoError(t, err)

	t.Run("truncated", func(t *testing.T) {
		_, err := Parse(full[:len(full)/2])
		require.ErrorIs(t, err, ErrTruncated)
	})
	t.Run("no sections", func(t *testing.T) {
		_, err := Parse([]byte("sh: 1: syntax error\n"))
		require.ErrorIs(t, err, ErrNoSections)
	})
	t.Run("banner before the first section is ignored", func(t *testing.T) {
		s, err := Parse(append([]byte("Welcome to the NAS!\n@@infra\n"), full...))
		require.NoError(t, err)
		checkSane(t, s)
	})
	t.Run("malformed section names itself", func(t *testing.T) {
		bad := bytes.Replace(full, []byte("@@infra:loadavg@@\n"), []byte("@@infra:loadavg@@\nnot a number\n"), 1)
		_, err := Parse(bad)
		var se *SectionError
		require.True(t, errors.As(err, &se), "error %v", err)
		require.Equal(t, SectionLoadavg, se.Section)
		require.ErrorContains(t, err, `"loadavg"`)
	})
	t.Run("duplicate section", func(t *testing.T) {
		_, err := Parse(append([]byte("@@infra:stat@@\ncpu 1 2 3 4\n"), full...))
		require.ErrorContains(t, err, "duplicate")
	})
	t.Run("not available is not an error", func(t *testing.T) {
		na := bytes.Replace(full, []byte("@@infra:meminfo@@\n"), []byte("@@infra:meminfo:na@@\n@@infra:meminfo_old@@\n"), 1)
		s, err := Parse(na)
		require.NoError(t, err)
		require.Nil(t, s.Memory)
		require.Contains(t, s.Unavailable, SectionMeminfo)
	})
	t.Run("only end marker", func(t *testing.T) {
		s, err := Parse([]byte("@@infra:end@@\n"))
		require.NoError(t, err)
		require.Nil(t, s.CPU)
		require.Len(t, s.Unavailable, 16)
	})
}

func TestScriptShape(t *testing.T) {
	require.True(t, strings.HasPrefix(Script, "export LC_ALL=C\n"))
	for _, name := range []string{SectionTime, SectionUptime, SectionStat, SectionMeminfo, SectionLoadavg,
		SectionNetDev, SectionDiskstats, SectionMounts, SectionARCStats, SectionProcs, SectionHwmon,
		SectionThermal, SectionOSRelease, SectionCaps, SectionDF, SectionDFInodes, SectionEnd} {
		require.Regexp(t, `(_m|_f) `+name+`( |\n|:na)`, Script, "section %s is printed", name)
	}
	// Bash-only constructs that dash and BusyBox ash reject or treat
	// differently.
	for _, bashism := range []string{"[[ ", "==", "function ", "$'", "<<<", "local ", "source ", "${!", "&>"} {
		require.NotContains(t, Script, bashism)
	}
}
