package devicesim

import (
	"fmt"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// Drives and pools of simulated devices (#11): every device has two SATA drives and a mirrored ZFS pool. Some are
// unwell, reproducibly by index: every 7th device has a drive with pending sectors that grow over time, every 11th a
// failing drive (SMART overall assessment FAILED), every 10th a DEGRADED pool, every 13th a pool 92 % full.

var cmdSmartScan = smart.ScanCommand(false)

// simDrives are the device paths of every simulated device's drives.
var simDrives = []string{"/dev/sda", "/dev/sdb"}

// storage answers the drive and pool commands; ok is false for any other command.
func (d *Device) storage(cmd string, now time.Time) (result, bool) {
	switch cmd {
	case cmdSmartScan:
		var b strings.Builder
		b.WriteString(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[`)
		for i, p := range simDrives {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":%q,"info_name":"%s [SAT]","type":"sat","protocol":"ATA"}`, p, p)
		}
		b.WriteString("]}\n")
		return result{stdout: []byte(b.String())}, true
	case zfs.CollectScript:
		return result{stdout: []byte(d.zfsOutput(now))}, true
	}
	for i, p := range simDrives {
		if want, _ := smart.ReadCommand(p, "sat", false); cmd == want {
			return d.driveOutput(i, p, now), true
		}
	}
	return result{}, false
}

func (d *Device) driveOutput(i int, path string, now time.Time) result {
	hours := int64(now.Sub(d.prof.boot).Hours()) + 8760
	pending, passed, exit := 0, true, 0
	if i == 1 && d.index%7 == 6 {
		// Pending sectors that grow by one a day: the rising counter is a warning.
		pending = 3 + int(now.Sub(d.prof.boot).Hours()/24)
	}
	if i == 0 && d.index%11 == 10 {
		passed, exit = false, 8
	}
	temp := 30 + (d.index+i)%12
	out := fmt.Sprintf(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":%d},`+
		`"device":{"name":%q,"info_name":"%s [SAT]","type":"sat","protocol":"ATA"},"model_name":"SIM HDD 8TB",`+
		`"serial_number":"SIM%04d%c","firmware_version":"SIM1","user_capacity":{"blocks":15628053168,"bytes":8001563222016},`+
		`"rotation_rate":7200,"smart_support":{"available":true,"enabled":true},"smart_status":{"passed":%t},`+
		`"ata_smart_attributes":{"table":[{"id":5,"name":"Reallocated_Sector_Ct","when_failed":"","raw":{"value":0}},`+
		`{"id":197,"name":"Current_Pending_Sector","when_failed":"","raw":{"value":%d}},`+
		`{"id":199,"name":"UDMA_CRC_Error_Count","when_failed":"","raw":{"value":0}}]},`+
		`"power_on_time":{"hours":%d},"power_cycle_count":21,"temperature":{"current":%d}}`+"\n",
		exit, path, path, d.index, 'A'+i, passed, pending, hours, temp)
	return result{stdout: []byte(out), exit: exit}
}

func (d *Device) zfsOutput(now time.Time) string {
	degraded := d.index%10 == 9
	state, member, reads := "ONLINE", "ONLINE", 0
	if degraded {
		state, member, reads = "DEGRADED", "FAULTED", 3
	}
	capacity := 40 + d.index%30
	if d.index%13 == 12 {
		capacity = 92
	}
	const size = 7999999999999
	alloc := uint64(size) * uint64(capacity) / 100
	scrubbed := now.Add(-time.Duration(3+d.index%20) * 24 * time.Hour).UTC()
	var b strings.Builder
	b.WriteString("@@tz\n+0000\n@@status-text\n")
	fmt.Fprintf(&b, "  pool: tank\n state: %s\n", state)
	if degraded {
		b.WriteString("status: One or more devices are faulted in response to persistent errors.\n" +
			"action: Replace the faulted device, or use 'zpool clear' to mark the device repaired.\n")
	}
	fmt.Fprintf(&b, "  scan: scrub repaired 0B in 05:12:09 with 0 errors on %s\nconfig:\n\n", scrubbed.Format("Mon Jan  2 15:04:05 2006"))
	b.WriteString("\tNAME        STATE     READ WRITE CKSUM\n")
	fmt.Fprintf(&b, "\ttank        %-8s      0     0     0\n", state)
	fmt.Fprintf(&b, "\t  mirror-0  %-8s      0     0     0\n", state)
	b.WriteString("\t    sda     ONLINE       0     0     0\n")
	fmt.Fprintf(&b, "\t    sdb     %-8s     %2d     0     0\n\nerrors: No known data errors\n", member, reads)
	fmt.Fprintf(&b, "@@list\ntank\t%d\t%d\t%d\t%d\t%d\t1.00\t%s\n", size, alloc, size-alloc, 5+d.index%20, capacity, state)
	b.WriteString("@@datasets\n")
	fmt.Fprintf(&b, "tank\t%d\t%d\t98304\t1.00\t/tank\ntank/data\t%d\t%d\t%d\t1.42\t/tank/data\n", alloc, size-alloc, alloc, size-alloc, alloc)
	newest := now.Add(-time.Duration(d.index%5) * time.Hour).Unix()
	fmt.Fprintf(&b, "@@snapshots\ntank/data\t%d\t%d\tauto-first\t%d\tauto-latest\t%d\n", 24+d.index%100, 1<<30, newest-30*86400, newest)
	return b.String()
}
