package collector

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

// TestParsersGolden runs every section parser over the recorded fixtures
// of several distributions and compares the result with golden JSON.
func TestParsersGolden(t *testing.T) {
	type parserCase struct {
		name     string
		sub      string
		suffixes []string
		parse    func([]byte) (any, error)
		// check asserts a property every fixture must satisfy, so a
		// golden file regenerated from a wrong parser still fails.
		check func(t *testing.T, v any)
	}
	cases := []parserCase{
		{
			name: "stat", sub: "proc", suffixes: []string{".stat"},
			parse: func(b []byte) (any, error) { return ParseStat(b) },
			check: func(t *testing.T, v any) {
				st := v.(*CPUStat)
				require.NotZero(t, st.Total.Idle)
				require.NotEmpty(t, st.Cores)
				var user uint64
				for _, c := range st.Cores {
					user += c.User
				}
				require.InDelta(t, float64(st.Total.User), float64(user), float64(st.Total.User)/50+10, "per-core user times add up to the total")
			},
		},
		{
			name: "meminfo", sub: "proc", suffixes: []string{".meminfo"},
			parse: func(b []byte) (any, error) { return ParseMeminfo(b) },
			check: func(t *testing.T, v any) {
				m := v.(*Memory)
				require.NotZero(t, m.TotalBytes)
				require.LessOrEqual(t, m.AvailableBytes, m.TotalBytes)
				require.LessOrEqual(t, m.FreeBytes, m.TotalBytes)
			},
		},
		{
			name: "loadavg", sub: "proc", suffixes: []string{".loadavg"},
			parse: func(b []byte) (any, error) { return ParseLoadavg(b) },
			check: func(t *testing.T, v any) { require.NotZero(t, v.(*LoadAvg).Threads) },
		},
		{
			name: "uptime", sub: "proc", suffixes: []string{".uptime"},
			parse: func(b []byte) (any, error) { return ParseUptime(b) },
			check: func(t *testing.T, v any) { require.Positive(t, v.(*Uptime).Seconds) },
		},
		{
			name: "netdev", sub: "proc", suffixes: []string{".net.dev", ".net_dev"},
			parse: func(b []byte) (any, error) { return ParseNetDev(b) },
			check: func(t *testing.T, v any) {
				ifs := v.([]NetDev)
				require.NotEmpty(t, ifs)
				for _, i := range ifs {
					require.NotEqual(t, "lo", i.Name)
				}
			},
		},
		{
			name: "diskstats", sub: "proc", suffixes: []string{".diskstats"},
			parse: func(b []byte) (any, error) { return ParseDiskstats(b) },
			check: func(t *testing.T, v any) {
				ds := v.([]DiskStat)
				require.NotEmpty(t, ds)
				for _, d := range ds {
					require.NotRegexp(t, `^(loop|ram|sr)\d|^sd[a-z]+\d|p\d+$`, d.Name, "partitions and pseudo devices are skipped")
				}
			},
		},
		{
			name: "arcstats", sub: "proc", suffixes: []string{".arcstats"},
			parse: func(b []byte) (any, error) { return ParseARCStats(b) },
			check: func(t *testing.T, v any) {
				a := v.(*ARCStats)
				require.NotZero(t, a.SizeBytes)
				require.LessOrEqual(t, a.MinBytes, a.MaxBytes)
			},
		},
		{
			name: "osrelease", sub: "os-release", suffixes: []string{"os-release"},
			parse: func(b []byte) (any, error) { return ParseOSRelease(b) },
			check: func(t *testing.T, v any) {
				r := v.(*OSRelease)
				require.NotEqual(t, "linux", r.ID, "every fixture names its distribution")
				require.NotEmpty(t, r.PrettyName)
				require.NotContains(t, r.PrettyName, `"`)
			},
		},
		{
			name: "df", sub: "df", suffixes: []string{"df.out", "df-long-filesystem.out"},
			parse: func(b []byte) (any, error) { return ParseDF(b) },
			check: func(t *testing.T, v any) {
				tb := v.(*DFTable)
				require.False(t, tb.Inodes)
				for _, r := range tb.Rows {
					require.True(t, strings.HasPrefix(r.Mount, "/"), r.Mount)
					require.LessOrEqual(t, r.Used, r.Total)
				}
			},
		},
	}
	for _, pc := range cases {
		for _, path := range fixtureFiles(t, pc.sub, pc.suffixes...) {
			base := filepath.Base(path)
			t.Run(pc.name+"/"+base, func(t *testing.T) {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				v, err := pc.parse(b)
				require.NoError(t, err)
				pc.check(t, v)
				golden.JSON(t, pc.name+"/"+base, v)
			})
		}
	}
}

func TestParseDFRejectsHumanSizes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir(t), "df", "jc__centos-7.7.df-h.out"))
	require.NoError(t, err)
	_, err = ParseDF(b)
	require.ErrorContains(t, err, "Size")
}

func TestParseDFFixtureValues(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir(t), "df", "jc__generic.df-long-filesystem.out"))
	require.NoError(t, err)
	tb, err := ParseDF(b)
	require.NoError(t, err)
	require.Equal(t, DFRow{
		Source: "/dev/mapper/VolGroup00-LogVol00", FSType: "ext3", Mount: "/",
		Total: 6030784 * 1024, Used: 1147932 * 1024, Avail: 4571556 * 1024,
	}, tb.Rows[0])
	// proc and sysfs rows carry their type, so Filesystems drops them.
	fs := Filesystems(tb, nil, nil)
	require.Len(t, fs, 1)
	require.Equal(t, "/", fs[0].Mount)
}

func TestFilesystemsUbuntuSnaps(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir(t), "df", "jc__ubuntu-18.04.df.out"))
	require.NoError(t, err)
	tb, err := ParseDF(b)
	require.NoError(t, err)
	fs := Filesystems(tb, nil, nil)
	golden.JSON(t, "filesystems/jc__ubuntu-18.04.df.out", fs)
	// Without /proc/mounts the source names and the /snap prefix still
	// rule out tmpfs, udev and snap images: only the root disk is left.
	require.Len(t, fs, 1)
	require.Equal(t, "/dev/sda2", fs[0].Source)
}

func TestParseStatOldKernel(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir(t), "proc", "jc__linux-proc.stat2"))
	require.NoError(t, err)
	// The fixture holds two machines' /proc/stat back to back; no real
	// file has two aggregate lines, so the whole is rejected...
	_, err = ParseStat(b)
	require.ErrorContains(t, err, "duplicate")
	// ...and the first machine's part (up to the second "cpu " line) is
	// parsed on its own.
	first := b[:bytes.Index(b[1:], []byte("\ncpu "))+2]
	st, err := ParseStat(first)
	require.NoError(t, err)
	// 7-column cpu lines: no steal column.
	require.Equal(t, CPUTimes{User: 259246, Nice: 7001, System: 60190, Idle: 34250993, IOWait: 137517, IRQ: 772}, st.Total)
	require.Len(t, st.Cores, 1)
	require.EqualValues(t, 1093631447, st.BootTime)
}

func TestParseMeminfoValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Memory
		err  string
	}{
		{
			name: "modern kernel",
			in:   "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nBuffers: 10 kB\nCached: 400 kB\nSReclaimable: 50 kB\nShmem: 20 kB\nSwapTotal: 2000 kB\nSwapFree: 1500 kB\nHugePages_Total: 0\n",
			want: Memory{TotalBytes: 1024000, FreeBytes: 102400, AvailableBytes: 614400, BuffersBytes: 10240, CachedBytes: 409600, SReclaimableBytes: 51200, ShmemBytes: 20480, SwapTotalBytes: 2048000, SwapFreeBytes: 1536000},
		},
		{
			name: "no MemAvailable before 3.14",
			in:   "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 400 kB\nSReclaimable: 50 kB\nShmem: 20 kB\n",
			want: Memory{TotalBytes: 1024000, FreeBytes: 102400, AvailableBytes: (100 + 10 + 400 + 50 - 20) * 1024, AvailableEstimated: true, BuffersBytes: 10240, CachedBytes: 409600, SReclaimableBytes: 51200, ShmemBytes: 20480},
		},
		{name: "no total", in: "MemFree: 100 kB\n", err: "MemTotal"},
		{name: "bad unit", in: "MemTotal: 100 MB\n", err: "unit"},
		{name: "garbage", in: "MemTotal 100 kB\n", err: "colon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMeminfo([]byte(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, *m)
		})
	}
}

func TestParseMounts(t *testing.T) {
	in := "proc /proc proc rw,relatime 0 0\n/dev/sdb1 /mnt/My\\040Disk ext4 rw 0 0\nrootfs / rootfs rw 0 0\n"
	ms, err := ParseMounts([]byte(in))
	require.NoError(t, err)
	require.Equal(t, []Mount{
		{Source: "proc", Mount: "/proc", FSType: "proc", Options: "rw,relatime"},
		{Source: "/dev/sdb1", Mount: "/mnt/My Disk", FSType: "ext4", Options: "rw"},
		{Source: "rootfs", Mount: "/", FSType: "rootfs", Options: "rw"},
	}, ms)
	_, err = ParseMounts([]byte("only two\n"))
	require.Error(t, err)
	_, err = ParseMounts(nil)
	require.ErrorIs(t, err, ErrNotAvailable)
}

// TestFilesystemsFiltering covers the fstype rules with a /proc/mounts the
// way Unraid, Docker hosts and BusyBox systems present them.
func TestFilesystemsFiltering(t *testing.T) {
	df := "Filesystem 1024-blocks Used Available Capacity Mounted on\n" +
		"rootfs 8000000 900000 7100000 12% /\n" +
		"tmpfs 32768 500 32268 2% /run\n" +
		"/dev/sda1 3900000 1000000 2900000 26% /boot\n" +
		"/dev/md1p1 1000000000 600000000 400000000 60% /mnt/disk1\n" +
		"shfs 1000000000 600000000 400000000 60% /mnt/user\n" +
		"/dev/loop2 20000000 5000000 15000000 25% /var/lib/docker\n" +
		"overlay 20000000 5000000 15000000 25% /var/lib/docker/overlay2/abc/merged\n" +
		"/dev/md1p1 1000000000 600000000 400000000 60% /mnt/disk1/bind here\n" +
		"tank/data 500000 100 499900 1% /tank/data\n"
	mounts := "rootfs / rootfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/sda1 /boot vfat rw 0 0\n" +
		"/dev/md1p1 /mnt/disk1 xfs rw 0 0\nshfs /mnt/user fuse.shfs rw 0 0\n/dev/loop2 /var/lib/docker btrfs rw 0 0\n" +
		"overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0\n/dev/md1p1 /mnt/disk1/bind\\040here xfs rw 0 0\n" +
		"tank/data /tank/data zfs rw 0 0\n"
	inodes := "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/md1p1 500 100 400 20% /mnt/disk1\n/dev/sda1 0 0 0 - /boot\n"
	bt, err := ParseDF([]byte(df))
	require.NoError(t, err)
	it, err := ParseDF([]byte(inodes))
	require.NoError(t, err)
	require.True(t, it.Inodes)
	ms, err := ParseMounts([]byte(mounts))
	require.NoError(t, err)
	fs := Filesystems(bt, it, ms)
	var got []string
	for _, f := range fs {
		got = append(got, f.Mount+"|"+f.FSType)
	}
	require.Equal(t, []string{"/boot|vfat", "/mnt/disk1|xfs", "/mnt/user|fuse.shfs", "/var/lib/docker|btrfs", "/tank/data|zfs"}, got)
	require.EqualValues(t, 500, fs[1].InodesTotal)
	require.EqualValues(t, 100, fs[1].InodesUsed)
	require.EqualValues(t, 1000000000*1024, fs[1].SizeBytes)
}

func TestParseNetDevOldKernelNoSpace(t *testing.T) {
	// Kernels of the 2.6 era print large counters right after the colon.
	in := "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n  eth0:4294967000 10 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
	ifs, err := ParseNetDev([]byte(in))
	require.NoError(t, err)
	require.Equal(t, []NetDev{{Name: "eth0", RxBytes: 4294967000, RxPackets: 10, TxBytes: 200, TxPackets: 2}}, ifs)
}

func TestParseDiskstatsFilter(t *testing.T) {
	in := "   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8 1 sda1 1 2 3 4\n 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 0 0 0 0 0 0\n" +
		" 259 1 nvme0n1p1 1 2 3 4 5 6 7 8 9 10 11\n   9 0 md0 1 2 3 4 5 6 7 8 9 10 11\n 253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11\n" +
		"   7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n 179 0 mmcblk0 1 2 3 4 5 6 7 8 9 10 11\n 179 1 mmcblk0p1 1 2 3 4 5 6 7 8 9 10 11\n" +
		" 179 8 mmcblk0boot0 1 2 3 4 5 6 7 8 9 10 11\n  11 0 sr0 1 2 3 4 5 6 7 8 9 10 11\n 230 0 zd0 1 2 3 4 5 6 7 8 9 10 11\n"
	ds, err := ParseDiskstats([]byte(in))
	require.NoError(t, err)
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	require.Equal(t, []string{"sda", "nvme0n1", "md0", "dm-0", "mmcblk0"}, names)
	require.Equal(t, DiskStat{Name: "sda", Major: 8, ReadsCompleted: 1, ReadsMerged: 2, SectorsRead: 3, ReadTimeMs: 4,
		WritesCompleted: 5, WritesMerged: 6, SectorsWritten: 7, WriteTimeMs: 8, InFlight: 9, IOTicksMs: 10, WeightedIOMs: 11}, ds[0])

	_, err = ParseDiskstats([]byte("8 0 sda 1 2 3\n"))
	require.ErrorContains(t, err, "sda")
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in    string
		nanos int64
		err   bool
	}{
		{in: "1795639646.987089838\n", nanos: 1795639646987089838},
		{in: "1795639646\n", nanos: 1795639646000000000},
		{in: "1795639646.5\n", nanos: 1795639646500000000},
		{in: "1795639646.%N\n", err: true},
		{in: "-5\n", err: true},
		{in: "1.1234567891\n", err: true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.in), func(t *testing.T) {
			got, err := ParseTime([]byte(tt.in))
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.nanos, got.UnixNano())
		})
	}
}

func TestParseOSReleaseQuoting(t *testing.T) {
	r, err := ParseOSRelease([]byte("# comment\nNAME='Single'\nPRETTY_NAME=\"A \\\"quoted\\\" \\$name\"\nVERSION_ID=1.2\n"))
	require.NoError(t, err)
	require.Equal(t, &OSRelease{ID: "linux", Name: "Single", PrettyName: `A "quoted" $name`, VersionID: "1.2"}, r)
	_, err = ParseOSRelease([]byte("NAME=\"open\n"))
	require.Error(t, err)
}

func TestParseCapabilities(t *testing.T) {
	fx := fixturesDir(t)
	read := func(name string) *OSRelease {
		b, err := os.ReadFile(filepath.Join(fx, "os-release", name))
		require.NoError(t, err)
		r, err := ParseOSRelease(b)
		require.NoError(t, err)
		return r
	}
	tests := []struct {
		name string
		caps string
		osr  *OSRelease
		want Capabilities
	}{
		{
			name: "debian host with docker and systemd",
			caps: "uname=Linux 6.1.0-18-amd64 x86_64\nhostname=nas\ncmd_docker=/usr/bin/docker\ncmd_zfs=\ncmd_zpool=\ncmd_smartctl=/usr/sbin/smartctl\ncmd_systemctl=/usr/bin/systemctl\nsystemd_running=1\ncpu_model=Intel(R) Xeon(R) CPU E3-1230 v3 @ 3.30GHz\n",
			osr:  read("distro__debian13.etc.os-release"),
			want: Capabilities{OSID: "debian", OSName: "Debian GNU/Linux", OSVersion: "13", OSPrettyName: "Debian GNU/Linux 13 (trixie)",
				Kernel: "6.1.0-18-amd64", Arch: "x86_64", Hostname: "nas", CPUModel: "Intel(R) Xeon(R) CPU E3-1230 v3 @ 3.30GHz",
				HasDocker: true, HasSmartctl: true, HasSystemd: true,
				Commands: map[string]string{"docker": "/usr/bin/docker", "smartctl": "/usr/sbin/smartctl", "systemctl": "/usr/bin/systemctl"}},
		},
		{
			name: "unraid on slackware",
			caps: "uname=Linux 6.1.64-Unraid x86_64\ncmd_docker=/usr/bin/docker\ncmd_zfs=/usr/sbin/zfs\ncmd_zpool=/usr/sbin/zpool\ncmd_smartctl=/usr/sbin/smartctl\ncmd_systemctl=\nunraid_version=\"6.12.6\"\n",
			osr:  read("distro__slackware14.etc.os-release"),
			want: Capabilities{OSID: "unraid", OSLike: "slackware", OSName: "Unraid", OSVersion: "6.12.6", OSPrettyName: "Unraid 6.12.6",
				Kernel: "6.1.64-Unraid", Arch: "x86_64", HasDocker: true, HasZFS: true, HasSmartctl: true,
				Commands: map[string]string{"docker": "/usr/bin/docker", "zfs": "/usr/sbin/zfs", "zpool": "/usr/sbin/zpool", "smartctl": "/usr/sbin/smartctl"}},
		},
		{
			name: "raspberry pi without model name",
			caps: "uname=Linux 6.6.31+rpt-rpi-v8 aarch64\ncmd_docker=\ncpu_hardware=BCM2835\ncpu_board=Raspberry Pi 4 Model B Rev 1.4\n",
			osr:  read("go-sysinfo__raspbian9.usr.lib.os-release"),
			want: Capabilities{OSID: "raspbian", OSLike: "debian", OSName: "Raspbian GNU/Linux", OSVersion: "9", OSPrettyName: "Raspbian GNU/Linux 9 (stretch)",
				Kernel: "6.6.31+rpt-rpi-v8", Arch: "aarch64", CPUModel: "BCM2835", Board: "Raspberry Pi 4 Model B Rev 1.4"},
		},
		{
			name: "alpine busybox",
			caps: "uname=Linux 6.6.7-0-lts x86_64\ncmd_docker=\n",
			osr:  read("distro__alpine.etc.os-release"),
			want: Capabilities{OSID: "alpine", OSName: "Alpine Linux", OSVersion: "3.23.2", OSPrettyName: "Alpine Linux v3.23", Kernel: "6.6.7-0-lts", Arch: "x86_64"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCapabilities([]byte(tt.caps), tt.osr)
			require.NoError(t, err)
			require.Equal(t, tt.want, *c)
		})
	}
	_, err := ParseCapabilities([]byte("uname=Linux\n"), nil)
	require.ErrorContains(t, err, "uname")
	_, err = ParseCapabilities([]byte("no equals sign\n"), nil)
	require.Error(t, err)
}

func TestParseHwmonThermalEdgeCases(t *testing.T) {
	hw := "/sys/class/hwmon/hwmon2/temp1_input\tk10temp\t0000:00:18.3\t45125\tTctl\n" +
		"/sys/class/hwmon/hwmon2/temp3_input\tk10temp\t0000:00:18.3\t\t\n" + // read failed
		"/sys/class/hwmon/hwmon5/temp1_input\tnct6775\t\t-128000\t\n" + // unconnected probe
		"/sys/class/hwmon/hwmon6/device/temp2_input\t\t\t30000\n" // pre-3.x layout, no name
	ts, err := ParseHwmon([]byte(hw))
	require.NoError(t, err)
	require.Equal(t, []Temperature{
		{Sensor: "k10temp/Tctl", Source: "hwmon", Chip: "k10temp", Label: "Tctl", Device: "0000:00:18.3", Celsius: 45.125, instance: "0000:00:18.3"},
		{Sensor: "hwmon6/temp2", Source: "hwmon", Chip: "hwmon6", Label: "temp2", Celsius: 30, instance: "hwmon6"},
	}, ts)

	_, err = ParseHwmon([]byte("/sys/class/hwmon/hwmon0/temp1_input\tx\t\thot\tl\n"))
	require.ErrorContains(t, err, "temperature")
	_, err = ParseHwmon([]byte("/not/hwmon/temp1_input\tx\t\t1000\tl\n"))
	require.ErrorContains(t, err, "hwmonN")

	th := "thermal_zone0\t45000\tacpitz\nthermal_zone1\t47000\tacpitz\nthermal_zone2\t\tiwlwifi_1\nthermal_zone3\t51000\t\n"
	ts, err = ParseThermal([]byte(th))
	require.NoError(t, err)
	var names []string
	for _, x := range ts {
		names = append(names, x.Sensor)
	}
	require.Equal(t, []string{"thermal/acpitz #thermal_zone0", "thermal/acpitz #thermal_zone1", "thermal/thermal_zone3"}, names)
}
