package alert

import "fmt"

// Checks of the services collection (#12).
const (
	// CheckUnitFailed reads 1 for every failed systemd unit that is not watched.
	CheckUnitFailed = "unit_failed"
	// CheckWatchedUnitInactive reads 1 for a watched unit that is not active (0 when it is).
	CheckWatchedUnitInactive = "watched_unit_inactive"
)

// serviceChecks are the checks of the services collection, listed in checks.go.
var serviceChecks = []Check{
	{Name: CheckUnitFailed, Describe: func(subject string, _ float64) string {
		return fmt.Sprintf("systemd unit %s failed", subject)
	}},
	{Name: CheckWatchedUnitInactive, Describe: func(subject string, value float64) string {
		if value == 0 {
			return fmt.Sprintf("watched systemd unit %s is active", subject)
		}
		return fmt.Sprintf("watched systemd unit %s is not active", subject)
	}},
}
