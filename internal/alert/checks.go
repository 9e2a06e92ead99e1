package alert

import "slices"

// Check is a value the slow-cadence collection reports per subject (a drive, a pool, a unit ...) for check rules
// (KindCheck) to compare with their thresholds. Boolean checks read 1 when bad and 0 when good.
type Check struct {
	// Name is what a rule's condition names, e.g. "drive_health".
	Name string
	// Unit is shown with values ("°C", "%", "days"); empty for counts and booleans.
	Unit string
	// Describe is the one-line text of an alert on subject at value.
	Describe func(subject string, value float64) string
}

// checks lists every check a rule can watch; each collector's checks are declared next to it in this package.
var checks = slices.Concat[[]Check](
	serviceChecks,
	storageChecks,   // #11
	inventoryChecks, // #13
)

// CheckNamed returns the check called name.
func CheckNamed(name string) (Check, bool) {
	i := slices.IndexFunc(checks, func(c Check) bool { return c.Name == name })
	if i < 0 {
		return Check{}, false
	}
	return checks[i], true
}

// CheckNames lists the names of every check, for validation messages.
func CheckNames() []string {
	names := make([]string, len(checks))
	for i, c := range checks {
		names[i] = c.Name
	}
	return names
}
