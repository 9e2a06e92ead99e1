package alert

import "fmt"

// inventoryChecks are the checks of package updates and VMs (#13). The update checks read how many days the
// condition has lasted, so a rule's thresholds are days.
var inventoryChecks = []Check{
	{Name: "security_updates_pending", Unit: "days", Describe: func(subject string, v float64) string {
		return fmt.Sprintf("security updates (%s) pending for %.1f days", subject, v)
	}},
	{Name: "reboot_required", Unit: "days", Describe: func(_ string, v float64) string {
		return fmt.Sprintf("reboot required for %.1f days", v)
	}},
	{Name: "vm_autostart_not_running", Describe: func(subject string, _ float64) string {
		return fmt.Sprintf("VM %s is marked autostart but is not running", subject)
	}},
}
