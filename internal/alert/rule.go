// Package alert evaluates alert rules against what a poll saw. It is pure: no I/O, no clock. The caller loads
// rules, the previous state of every (rule, device, subject) and the maintenance windows, calls Evaluate per
// subject, stores the new states and acts on the transitions (record the alert, queue notifications).
//
// Each (rule, device, subject) moves pending → firing → resolved. A condition must hold for the rule's
// duration before it fires; once firing it does not fire again (only an escalation from warning to critical is
// a new notice); it resolves once the value has stayed below the threshold minus the hysteresis for the rule's
// clear-for time, so a value wobbling around a threshold does not flap.
package alert

import (
	"fmt"
	"slices"
	"time"
)

// Kind is what a rule watches.
type Kind string

// Rule kinds.
const (
	KindMetric    Kind = "metric"
	KindOffline   Kind = "offline"
	KindContainer Kind = "container"
	KindHostKey   Kind = "host_key"
	// KindCheck watches what the slow-cadence collection reports (drive health, pool state, failed units ...):
	// the rule's Condition names the check, Warning and Critical are thresholds on its value.
	KindCheck Kind = "check"
)

// Metrics a metric rule can watch. All are "above the threshold is bad".
const (
	MetricCPU         = "cpu"           // CPU usage, percent of all cores
	MetricMemory      = "memory"        // memory used, percent
	MetricSwap        = "swap"          // swap used, percent
	MetricLoadPerCore = "load_per_core" // 1-minute load average divided by the logical CPUs
	MetricFilesystem  = "filesystem"    // per mount: space used, percent
	MetricInodes      = "inodes"        // per mount: inodes used, percent
	MetricTemperature = "temperature"   // per sensor: degrees Celsius
)

// Metrics lists every metric name, for validation.
var Metrics = []string{MetricCPU, MetricMemory, MetricSwap, MetricLoadPerCore, MetricFilesystem, MetricInodes, MetricTemperature}

// Container conditions.
const (
	CondExitedNonZero = "exited_nonzero" // exited or dead with a non-zero exit code
	CondUnhealthy     = "unhealthy"      // health check failing
	CondRestarting    = "restarting"     // restarted more than Restarts times within Window
	CondMissing       = "missing"        // gone from the inventory after having been seen
)

// Conditions lists every container condition, for validation.
var Conditions = []string{CondExitedNonZero, CondUnhealthy, CondRestarting, CondMissing}

// Severities, in rising order. Info exists for channels' minimum severity and test notices; rules fire at
// warning or critical.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Rank orders severities: info 1, warning 2, critical 3, anything else 0.
func Rank(severity string) int {
	switch severity {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Scopes of a rule.
const (
	ScopeAll    = "all"
	ScopeTag    = "tag"
	ScopeDevice = "device"
)

// Rule is one alert rule with any per-device override already applied (see WithOverride).
type Rule struct {
	ID        string
	Name      string
	Kind      Kind
	Metric    string
	Condition string
	// Warning and Critical are the thresholds of metric and offline rules (offline: seconds since the device
	// was last seen); nil disables that level.
	Warning  *float64
	Critical *float64
	// Severity is the level container and host-key rules fire at.
	Severity string
	// Duration is how long the condition must hold before the rule fires.
	Duration time.Duration
	// ClearFor is how long the condition must stay clear before a firing alert resolves.
	ClearFor time.Duration
	// HysteresisPercent lowers a threshold by this share while its level is active, so a value must fall
	// clearly below the threshold to count as clear.
	HysteresisPercent float64
	// Restarts and Window parametrise CondRestarting.
	Restarts int
	Window   time.Duration

	Scope       string
	ScopeTag    string
	ScopeDevice string
	Enabled     bool
}

// Override changes a rule for one device; nil fields keep the rule's value.
type Override struct {
	Warning  *float64
	Critical *float64
	Duration *time.Duration
	Enabled  *bool
}

// WithOverride returns the rule as it applies to the device the override belongs to.
func (r Rule) WithOverride(o *Override) Rule {
	if o == nil {
		return r
	}
	if o.Warning != nil {
		r.Warning = o.Warning
	}
	if o.Critical != nil {
		r.Critical = o.Critical
	}
	if o.Duration != nil {
		r.Duration = *o.Duration
	}
	if o.Enabled != nil {
		r.Enabled = *o.Enabled
	}
	return r
}

// Applies reports whether the rule covers a device with this ID and these tags.
func (r Rule) Applies(deviceID string, tags []string) bool {
	if !r.Enabled {
		return false
	}
	switch r.Scope {
	case ScopeAll, "":
		return true
	case ScopeTag:
		return slices.Contains(tags, r.ScopeTag)
	case ScopeDevice:
		return r.ScopeDevice == deviceID
	}
	return false
}

// Validate checks a rule's fields together; the map names each bad field (API JSON names).
func (r Rule) Validate() map[string]string {
	bad := map[string]string{}
	switch r.Kind {
	case KindMetric:
		if !slices.Contains(Metrics, r.Metric) {
			bad["metric"] = fmt.Sprintf("must be one of %v", Metrics)
		}
		fallthrough
	case KindOffline:
		if r.Warning == nil && r.Critical == nil {
			bad["critical"] = "a warning or a critical threshold is required"
		}
		if r.Warning != nil && r.Critical != nil && *r.Warning > *r.Critical {
			bad["warning"] = "must not be above critical"
		}
	case KindContainer:
		if !slices.Contains(Conditions, r.Condition) {
			bad["condition"] = fmt.Sprintf("must be one of %v", Conditions)
		}
		if r.Condition == CondRestarting && (r.Restarts < 1 || r.Window <= 0) {
			bad["restarts"] = "restarting needs restarts of at least 1 and a positive window"
		}
	case KindCheck:
		if _, ok := CheckNamed(r.Condition); !ok {
			bad["condition"] = fmt.Sprintf("must be one of %v", CheckNames())
		}
		if r.Warning == nil && r.Critical == nil {
			bad["critical"] = "a warning or a critical threshold is required"
		}
		if r.Warning != nil && r.Critical != nil && *r.Warning > *r.Critical {
			bad["warning"] = "must not be above critical"
		}
	case KindHostKey:
	default:
		bad["kind"] = "must be metric, offline, container, host_key or check"
	}
	if r.Kind != KindMetric && r.Kind != KindOffline && r.Kind != KindCheck && r.Severity != SeverityWarning && r.Severity != SeverityCritical {
		bad["severity"] = "must be warning or critical"
	}
	if r.Duration < 0 || r.Duration > 7*24*time.Hour {
		bad["duration"] = "must be between 0s and 168h"
	}
	if r.ClearFor < 0 || r.ClearFor > 24*time.Hour {
		bad["clear_for"] = "must be between 0s and 24h"
	}
	if r.HysteresisPercent < 0 || r.HysteresisPercent > 50 {
		bad["hysteresis_percent"] = "must be between 0 and 50"
	}
	switch r.Scope {
	case ScopeAll:
	case ScopeTag:
		if r.ScopeTag == "" {
			bad["scope_tag"] = "is required for scope tag"
		}
	case ScopeDevice:
		if r.ScopeDevice == "" {
			bad["scope_device"] = "is required for scope device"
		}
	default:
		bad["scope"] = "must be all, tag or device"
	}
	return bad
}
