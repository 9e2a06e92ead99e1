package devicesim

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// userHZ is the tick rate of /proc/stat's CPU columns on every Linux architecture the product targets.
const userHZ = 100

// profile is the immutable shape of one simulated machine: sizes, names and the base rates its counters advance
// at. Counters are pure functions of the time since boot, so a device needs no mutable state for them and two
// polls always see monotonic counters whatever their order.
type profile struct {
	hostname  string
	cpus      int
	memKB     uint64
	boot      time.Time // wall clock of the simulated boot
	busy      float64   // mean busy fraction of the CPUs
	wave      float64   // amplitude of the busy fraction's slow oscillation (< busy)
	period    float64   // seconds of one oscillation
	netRate   float64   // eth0 receive bytes per second (transmit is a third of it)
	diskRate  float64   // sectors written per second
	rootKB    uint64    // size of / in KiB
	dataKB    uint64    // size of /srv in KiB
	temp      float64   // package temperature in °C
	distro    int       // index into osReleases
	diskName  string    // sda or nvme0n1
	diskMajor int
}

// newProfile derives a device's profile from its index so runs are reproducible and devices differ.
func newProfile(index int, now time.Time, r *rng) profile {
	cpus := []int{2, 4, 4, 8}[index%4]
	p := profile{
		hostname: fmt.Sprintf("sim-%05d", index),
		cpus:     cpus,
		memKB:    uint64([]int{4, 8, 16, 32}[index%4]) << 20,
		boot:     now.Add(-time.Duration(3600+r.intn(30*86400)) * time.Second).Truncate(time.Second),
		busy:     0.05 + 0.4*r.float(),
		period:   300 + 600*r.float(),
		netRate:  2e3 + 2e6*r.float(),
		diskRate: 10 + 2000*r.float(),
		rootKB:   uint64(32+r.intn(480)) << 20,
		dataKB:   uint64(1+r.intn(16)) << 30,
		temp:     35 + 25*r.float(),
		distro:   index % len(osReleases),
	}
	p.wave = p.busy * 0.5
	if index%2 == 0 {
		p.diskName, p.diskMajor = "sda", 8
	} else {
		p.diskName, p.diskMajor = "nvme0n1", 259
	}
	return p
}

// busySeconds is the integral of the busy fraction busy + wave·sin(2πt/period) from boot to t seconds: an
// analytic antiderivative keeps the CPU counters monotonic without remembering earlier polls.
func (p *profile) busySeconds(t float64) float64 {
	w := 2 * math.Pi / p.period
	return p.busy*t + p.wave/w*(1-math.Cos(w*t))
}

// busyNow is the instantaneous busy fraction, used for the load average.
func (p *profile) busyNow(t float64) float64 {
	return p.busy + p.wave*math.Sin(2*math.Pi*t/p.period)
}

// osReleases are /etc/os-release contents (filtered to KEY=VALUE lines, as the script prints them) of common
// device distributions, shared by every device.
var osReleases = []string{
	`PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
	`PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
`,
	`NAME="Fedora Linux"
VERSION="40 (Server Edition)"
ID=fedora
VERSION_ID=40
PRETTY_NAME="Fedora Linux 40 (Server Edition)"
VARIANT_ID=server
`,
	`NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
`,
}

var kernels = []string{"6.1.0-27-amd64", "6.8.0-48-generic", "6.10.12-200.fc40.x86_64", "6.6.54-0-lts"}

// netDevHeader is the two header lines of /proc/net/dev, byte for byte as the kernel prints them.
const netDevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

// writeCollector appends one run of collector.Script's output for the device at wall time now, in the section
// format real hosts produce (see internal/collector/testdata/local-sh.out).
func (d *Device) writeCollector(b []byte, now time.Time) []byte {
	p := &d.prof
	up := now.Sub(p.boot).Seconds()
	marker := func(name string) { b = append(b, "@@infra:"...); b = append(b, name...); b = append(b, "@@\n"...) }

	marker("time")
	b = fmt.Appendf(b, "%d.%09d\n", now.Unix(), now.Nanosecond())

	marker("uptime")
	b = fmt.Appendf(b, "%.2f %.2f\n\n", up, (float64(p.cpus)*up-p.busySeconds(up)*float64(p.cpus))*0.98)

	marker("stat")
	b = d.appendStat(b, up)

	marker("meminfo")
	b = d.appendMeminfo(b, up)

	marker("loadavg")
	load := p.busyNow(up) * float64(p.cpus)
	b = fmt.Appendf(b, "%.2f %.2f %.2f %d/%d %d\n\n", load, load*0.9+0.05, load*0.8+0.1, 1+int(load), 180+p.cpus*20,
		1000+int(up)%30000)

	marker("netdev")
	b = append(b, netDevHeader...)
	lo := uint64(up * 900)
	b = appendNetDev(b, "lo", lo, lo/120, lo, lo/120)
	rx := uint64(up * p.netRate)
	tx := rx / 3
	b = appendNetDev(b, "eth0", rx, rx/900, tx, tx/600)
	if len(d.docker.containers) > 0 {
		drx := uint64(up * p.netRate / 20)
		b = appendNetDev(b, "docker0", drx, drx/700, drx*2, drx/350)
	}
	b = append(b, '\n')

	marker("diskstats")
	b = d.appendDiskstats(b, up)

	marker("mounts")
	b = d.appendMounts(b)

	b = append(b, "@@infra:arcstats:na@@\n"...)
	marker("procs")
	b = strconv.AppendInt(b, int64(150+p.cpus*10+len(d.docker.containers)*3), 10)
	b = append(b, '\n')

	marker("hwmon")
	milli := int64((p.temp + 5*math.Sin(up/97)) * 1000)
	b = fmt.Appendf(b, "/sys/class/hwmon/hwmon1/temp1_input\tcoretemp\tcoretemp.0\t%d\tPackage id 0\n", milli/1000*1000)
	for c := 0; c < min(p.cpus, 4); c++ {
		b = fmt.Appendf(b, "/sys/class/hwmon/hwmon1/temp%d_input\tcoretemp\tcoretemp.0\t%d\tCore %d\n", c+2,
			(milli-int64(c+1)*1000)/1000*1000, c)
	}
	marker("thermal")
	b = fmt.Appendf(b, "thermal_zone0\t%d\tacpitz\n", milli-8000)

	marker("os_release")
	b = append(b, osReleases[p.distro]...)

	marker("caps")
	b = fmt.Appendf(b, "uname=Linux %s x86_64\nhostname=%s\n", kernels[p.distro], p.hostname)
	b = append(b, "cmd_docker=/usr/bin/docker\ncmd_zfs=\ncmd_zpool=\ncmd_smartctl=/usr/sbin/smartctl\n"...)
	if p.distro == 3 {
		b = append(b, "cmd_systemctl=\n"...)
	} else {
		b = append(b, "cmd_systemctl=/usr/bin/systemctl\nsystemd_running=1\n"...)
	}
	b = append(b, "cpu_model=Intel(R) Xeon(R) CPU E3-1230 v6 @ 3.50GHz\n"...)

	marker("df")
	b = d.appendDF(b, up, false)
	marker("df_inodes")
	b = d.appendDF(b, up, true)
	marker("end")
	return b
}

// appendStat writes /proc/stat: the aggregate and per-CPU lines (10 columns, as kernels since 2.6.33 print
// them) followed by the system-wide counters.
func (d *Device) appendStat(b []byte, up float64) []byte {
	p := &d.prof
	busy := p.busySeconds(up) * userHZ // ticks of one CPU
	total := up * userHZ
	line := func(name string, busyShare, cpus float64) {
		bu := busy * busyShare
		user := uint64(bu * 0.70)
		nice := uint64(bu * 0.01)
		sys := uint64(bu * 0.22)
		irq := uint64(bu * 0.01)
		soft := uint64(bu * 0.03)
		steal := uint64(bu * 0.01)
		iow := uint64(total * cpus * 0.004)
		idle := uint64(total*cpus) - user - nice - sys - irq - soft - steal - iow
		b = fmt.Appendf(b, "%s %d %d %d %d %d %d %d %d 0 0\n", name, user, nice, sys, idle, iow, irq, soft, steal)
	}
	line("cpu ", float64(p.cpus), float64(p.cpus))
	for c := 0; c < p.cpus; c++ {
		// Even cores carry more of the load than odd ones (the CPU count is even); each core's share is fixed
		// so its counters stay monotonic, and the shares sum to the aggregate line.
		share := 0.8
		if c%2 == 0 {
			share = 1.2
		}
		line("cpu"+strconv.Itoa(c), share, 1)
	}
	intr := uint64(up * 350 * float64(p.cpus))
	b = fmt.Appendf(b, "intr %d 0 9 0 0 0 0 0 0 0 0\n", intr)
	b = fmt.Appendf(b, "ctxt %d\nbtime %d\nprocesses %d\nprocs_running %d\nprocs_blocked 0\n",
		uint64(up*1200*float64(p.cpus)), p.boot.Unix(), 1000+uint64(up*0.7), 1+int(p.busyNow(up)*float64(p.cpus)))
	b = fmt.Appendf(b, "softirq %d 0 %d 1 %d 0 0 1 %d 0 %d\n\n", intr/2, intr/8, intr/9, intr/7, intr/10)
	return b
}

// appendMeminfo writes /proc/meminfo in the kernel's layout (the value right-aligned to column 24).
func (d *Device) appendMeminfo(b []byte, up float64) []byte {
	p := &d.prof
	used := uint64(float64(p.memKB) * (0.25 + 0.1*math.Sin(up/613)))
	cached := p.memKB / 4
	free := p.memKB - used - cached
	swap := p.memKB / 4
	kv := func(k string, v uint64) {
		b = append(b, k...)
		b = append(b, ':')
		b = fmt.Appendf(b, "%*d kB\n", 23-len(k), v)
	}
	kv("MemTotal", p.memKB)
	kv("MemFree", free)
	kv("MemAvailable", free+cached*9/10)
	kv("Buffers", p.memKB/100)
	kv("Cached", cached)
	kv("SwapCached", 0)
	kv("Active", used/2+cached/2)
	kv("Inactive", used/2+cached/2)
	kv("Unevictable", 0)
	kv("Mlocked", 0)
	kv("SwapTotal", swap)
	kv("SwapFree", swap-swap/50)
	kv("Dirty", 120)
	kv("Writeback", 0)
	kv("AnonPages", used*8/10)
	kv("Mapped", used/10)
	kv("Shmem", p.memKB/200)
	kv("KReclaimable", p.memKB/60)
	kv("Slab", p.memKB/40)
	kv("SReclaimable", p.memKB/60)
	kv("SUnreclaim", p.memKB/120)
	kv("KernelStack", 8000)
	kv("PageTables", 12000)
	kv("CommitLimit", p.memKB/2+swap)
	kv("Committed_AS", used*2)
	kv("VmallocTotal", 34359738367)
	kv("VmallocUsed", 40000)
	kv("VmallocChunk", 0)
	b = append(b, "HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n"...)
	kv("Hugepagesize", 2048)
	return append(b, '\n')
}

// appendNetDev writes one /proc/net/dev row in the kernel's column widths.
func appendNetDev(b []byte, name string, rx, rxp, tx, txp uint64) []byte {
	return fmt.Appendf(b, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
		name, rx, rxp, 0, 0, 0, 0, 0, rxp/50, tx, txp, 0, 0, 0, 0, 0, 0)
}

// appendDiskstats writes /proc/diskstats with 20 columns (kernel 5.5+): a whole disk, its partitions and a loop
// device, which the parser must skip.
func (d *Device) appendDiskstats(b []byte, up float64) []byte {
	p := &d.prof
	w := uint64(up * p.diskRate)
	r := w / 3
	row := func(major, minor int, name string, share uint64) {
		rs, ws := r*share/100, w*share/100
		b = fmt.Appendf(b, "%4d %7d %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n",
			major, minor, name, rs/16, rs/200, rs, rs/40, ws/24, ws/30, ws, ws/20, 0, (rs+ws)/60, rs/40+ws/20,
			0, 0, 0, 0, ws/2000, ws/4000)
	}
	b = fmt.Appendf(b, "%4d %7d loop0 %d 0 %d 3 0 0 0 0 0 4 3 0 0 0 0 0 0\n", 7, 0, 52, 2200)
	row(p.diskMajor, 0, p.diskName, 100)
	part := p.diskName
	if p.diskMajor == 259 {
		part += "p"
	}
	row(p.diskMajor, 1, part+"1", 1)
	row(p.diskMajor, 2, part+"2", 99)
	return append(b, '\n')
}

func (d *Device) part(n int) string {
	name := "/dev/" + d.prof.diskName
	if d.prof.diskMajor == 259 {
		name += "p"
	}
	return name + strconv.Itoa(n)
}

// appendMounts writes /proc/mounts: the real filesystems plus the pseudo ones the product must ignore.
func (d *Device) appendMounts(b []byte) []byte {
	b = append(b, "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"...)
	b = append(b, "udev /dev devtmpfs rw,nosuid,relatime,size=4017620k,nr_inodes=1004405,mode=755 0 0\n"...)
	b = append(b, "tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=806188k,mode=755 0 0\n"...)
	b = fmt.Appendf(b, "%s / ext4 rw,relatime,errors=remount-ro 0 0\n", d.part(2))
	b = append(b, "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n"...)
	b = fmt.Appendf(b, "%s /boot/efi vfat rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro 0 0\n", d.part(1))
	b = append(b, "/dev/sdb1 /srv xfs rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0\n"...)
	for i := range d.docker.containers {
		if i >= 2 {
			break
		}
		b = fmt.Appendf(b, "overlay /var/lib/docker/overlay2/%s/merged overlay rw,relatime 0 0\n", d.docker.containers[i].id[:32])
	}
	return append(b, '\n')
}

// appendDF writes `df -P -k` (or `df -P -i` when inodes is set) for the mounts above; / and /srv fill slowly.
func (d *Device) appendDF(b []byte, up float64, inodes bool) []byte {
	p := &d.prof
	type fs struct {
		src, mount  string
		size, used  uint64
		inos, iused uint64
	}
	rootUsed := p.rootKB/3 + uint64(up/10)%(p.rootKB/4)
	dataUsed := p.dataKB/2 + uint64(up)%(p.dataKB/8)
	rows := []fs{
		{"udev", "/dev", 4017620, 0, 1004405, 450},
		{"tmpfs", "/run", 806188, 1300, 1007735, 900},
		{d.part(2), "/", p.rootKB, rootUsed, p.rootKB / 16, p.rootKB / 160},
		{"tmpfs", "/dev/shm", 4030940, 0, 1007735, 1},
		{d.part(1), "/boot/efi", 523248, 6220, 0, 0},
		{"/dev/sdb1", "/srv", p.dataKB, dataUsed, p.dataKB / 64, p.dataKB / 640},
	}
	if inodes {
		b = append(b, "Filesystem        Inodes   IUsed     IFree IUse% Mounted on\n"...)
	} else {
		b = append(b, "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"...)
	}
	for _, r := range rows {
		total, used := r.size, r.used
		if inodes {
			total, used = r.inos, r.iused
		}
		avail := total - used
		if !inodes && total > 0 {
			avail = total - used - total/20 // reserved blocks
		}
		pct := "-"
		if total > 0 {
			pct = strconv.FormatUint((used*100+total-1)/total, 10) + "%"
		}
		b = fmt.Appendf(b, "%-14s %11d %9d %9d %8s %s\n", r.src, total, used, avail, pct, r.mount)
	}
	return b
}
