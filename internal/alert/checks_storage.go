package alert

import "fmt"

// Checks of the drives and zfs collectors (#11). The subject of a drive check is "<serial> (<device path>)", of a
// pool check the pool name, of a dataset check the dataset name.
const (
	CheckDriveFailing     = "drive_failing"     // 1 when the drive's verdict is failing
	CheckDriveWarning     = "drive_warning"     // 1 when the drive's verdict is warning (counters above zero or rising)
	CheckDriveTemperature = "drive_temperature" // degrees Celsius
	CheckPoolNotOnline    = "pool_not_online"   // 1 when the pool's state is not ONLINE
	CheckPoolCapacity     = "pool_capacity"     // percent of the pool allocated
	CheckPoolErrors       = "pool_errors"       // checksum errors + data errors + errors the last scan found
	CheckPoolScrubAge     = "pool_scrub_age"    // days since the last completed scrub (NoScrubDays: none on record)
	CheckSnapshotAge      = "snapshot_age"      // hours since the dataset's newest snapshot
)

// NoScrubDays is the pool_scrub_age value of a pool with no completed scrub on record.
const NoScrubDays = 9999

var storageChecks = []Check{
	{Name: CheckDriveFailing, Describe: func(s string, _ float64) string {
		return fmt.Sprintf("drive %s is failing: back up its data and replace it", s)
	}},
	{Name: CheckDriveWarning, Describe: func(s string, _ float64) string {
		return fmt.Sprintf("drive %s shows warning signs (error counters above zero or rising)", s)
	}},
	{Name: CheckDriveTemperature, Unit: "°C", Describe: func(s string, v float64) string {
		return fmt.Sprintf("drive %s at %.0f °C", s, v)
	}},
	{Name: CheckPoolNotOnline, Describe: func(s string, _ float64) string {
		return fmt.Sprintf("ZFS pool %s is not ONLINE", s)
	}},
	{Name: CheckPoolCapacity, Unit: "%", Describe: func(s string, v float64) string {
		return fmt.Sprintf("ZFS pool %s is %.0f%% full", s, v)
	}},
	{Name: CheckPoolErrors, Describe: func(s string, v float64) string {
		return fmt.Sprintf("ZFS pool %s has %.0f checksum or data errors", s, v)
	}},
	{Name: CheckPoolScrubAge, Unit: "days", Describe: func(s string, v float64) string {
		if v >= NoScrubDays {
			return fmt.Sprintf("ZFS pool %s has no completed scrub on record", s)
		}
		return fmt.Sprintf("ZFS pool %s was last scrubbed %.0f days ago", s, v)
	}},
	{Name: CheckSnapshotAge, Unit: "h", Describe: func(s string, v float64) string {
		return fmt.Sprintf("the newest snapshot of dataset %s is %.0f hours old", s, v)
	}},
}
