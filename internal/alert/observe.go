package alert

import (
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// Observation is what is known about a device after one poll attempt.
type Observation struct {
	Time time.Time
	// Reachable is true when the poll succeeded; Metrics and Containers are only read then.
	Reachable bool
	// LastSeen is the last successful poll (the device's creation when it was never seen).
	LastSeen time.Time
	// HostKey is known when the poll succeeded (false) or failed on the host key (true); HostKeyKnown says
	// whether either happened.
	HostKeyBlocked bool
	HostKeyKnown   bool
	Metrics        *collector.Metrics
	// Cores is the number of logical CPUs, for load per core (0: unknown).
	Cores int
	// Containers is the inventory; ContainersKnown is false when docker could not be asked this poll.
	Containers      []docker.Container
	ContainersKnown bool
	// Checks are the readings of the slow-cadence collection, per check name; only the checks of the collectors
	// that ran are present, so a check rule is evaluated only when its check was read.
	Checks map[string][]Reading
}

// Reading is one subject's value for a rule in one observation. Value is compared to the rule's thresholds;
// for condition rules it is 1 (active) or 0. Counter marks a monotonically rising count (restarts) that
// Evaluate turns into the increase over the rule's window.
type Reading struct {
	Subject string
	Value   float64
	Counter bool
}

// Readings returns the rule's readings in the observation. known is false when the observation says nothing
// about the rule (the poll failed, or the first poll has no CPU rate yet): the caller then leaves every state of
// the rule as it was. Subjects that had a state but are missing from a known reading set are evaluated as
// absent (see Evaluate).
func Readings(r Rule, o Observation) (readings []Reading, known bool) {
	switch r.Kind {
	case KindOffline:
		return []Reading{{Value: max(0, o.Time.Sub(o.LastSeen).Seconds())}}, !o.LastSeen.IsZero()
	case KindHostKey:
		return []Reading{{Value: b2f(o.HostKeyBlocked)}}, o.HostKeyKnown
	case KindCheck:
		rs, ok := o.Checks[r.Condition]
		return rs, ok
	case KindContainer:
		if !o.Reachable || !o.ContainersKnown {
			return nil, false
		}
		for _, c := range o.Containers {
			rd := Reading{Subject: c.Name}
			switch r.Condition {
			case CondExitedNonZero:
				rd.Value = b2f((c.State == docker.StateExited || c.State == docker.StateDead) && c.ExitCode != 0)
			case CondUnhealthy:
				rd.Value = b2f(c.Health == docker.HealthUnhealthy)
			case CondRestarting:
				rd.Value, rd.Counter = float64(c.RestartCount), true
			case CondMissing:
				rd.Value = 0 // present; absence is what fires
			}
			readings = append(readings, rd)
		}
		return readings, true
	case KindMetric:
		if !o.Reachable || o.Metrics == nil {
			return nil, false
		}
		m := o.Metrics
		switch r.Metric {
		case MetricCPU:
			if m.CPU == nil {
				return nil, false
			}
			return []Reading{{Value: m.CPU.UsagePercent}}, true
		case MetricMemory:
			if m.Memory == nil {
				return nil, false
			}
			return []Reading{{Value: m.Memory.UsedPercent}}, true
		case MetricSwap:
			if m.Memory == nil {
				return nil, false
			}
			return []Reading{{Value: m.Memory.SwapUsedPercent}}, true
		case MetricLoadPerCore:
			cores := o.Cores
			if m.CPU != nil && len(m.CPU.Cores) > 0 {
				cores = len(m.CPU.Cores)
			}
			if m.Load == nil || cores <= 0 {
				return nil, false
			}
			return []Reading{{Value: m.Load.Load1 / float64(cores)}}, true
		case MetricFilesystem:
			for _, fs := range m.Filesystems {
				readings = append(readings, Reading{Subject: fs.Mount, Value: fs.UsedPercent})
			}
			return readings, true
		case MetricInodes:
			for _, fs := range m.Filesystems {
				if fs.InodesUsedPercent != nil {
					readings = append(readings, Reading{Subject: fs.Mount, Value: *fs.InodesUsedPercent})
				}
			}
			return readings, true
		case MetricTemperature:
			for _, t := range m.Temperatures {
				readings = append(readings, Reading{Subject: t.Sensor, Value: t.Celsius})
			}
			return readings, true
		}
	}
	return nil, false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Describe is the one-line text of a rule's condition for a subject and value, used in alert messages.
func Describe(r Rule, subject string, value float64) string {
	on := ""
	if subject != "" {
		on = " " + subject
	}
	switch r.Kind {
	case KindOffline:
		return fmt.Sprintf("device not seen for %s", (time.Duration(value) * time.Second).Round(time.Second))
	case KindHostKey:
		return "device blocked: its SSH host key is unknown or changed"
	case KindCheck:
		if c, ok := CheckNamed(r.Condition); ok && c.Describe != nil {
			return c.Describe(subject, value)
		}
		return fmt.Sprintf("%s%s at %g", r.Condition, on, value)
	case KindContainer:
		switch r.Condition {
		case CondExitedNonZero:
			return "container" + on + " exited with a non-zero code"
		case CondUnhealthy:
			return "container" + on + " is unhealthy"
		case CondRestarting:
			return fmt.Sprintf("container%s restarted %.0f times within %s", on, value, r.Window)
		case CondMissing:
			return "container" + on + " is missing"
		}
	case KindMetric:
		unit := "%"
		switch r.Metric {
		case MetricTemperature:
			unit = " °C"
		case MetricLoadPerCore:
			unit = " per core"
		}
		return fmt.Sprintf("%s%s at %.1f%s", r.Metric, on, value, unit)
	}
	return r.Name
}

// Needs names the parts of an Observation that a rule's readings depend on, so the caller reads back only the
// samples some rule uses.
type Needs struct {
	System       bool // Metrics' CPU, memory, swap and load (the poll's system row)
	Filesystems  bool
	Temperatures bool
	Containers   bool
}

// Needs returns the parts of an Observation that Readings looks at for r beyond reachability, last-seen and
// host-key facts (which every observation carries).
func (r Rule) Needs() Needs {
	switch r.Kind {
	case KindContainer:
		return Needs{Containers: true}
	case KindMetric:
		switch r.Metric {
		case MetricFilesystem, MetricInodes:
			return Needs{Filesystems: true}
		case MetricTemperature:
			return Needs{Temperatures: true}
		case MetricCPU, MetricMemory, MetricSwap, MetricLoadPerCore:
			return Needs{System: true}
		}
	}
	return Needs{}
}

// Add merges o into n.
func (n *Needs) Add(o Needs) {
	n.System = n.System || o.System
	n.Filesystems = n.Filesystems || o.Filesystems
	n.Temperatures = n.Temperatures || o.Temperatures
	n.Containers = n.Containers || o.Containers
}

// Any reports whether anything is needed.
func (n Needs) Any() bool { return n.System || n.Filesystems || n.Temperatures || n.Containers }
