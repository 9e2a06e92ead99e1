package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// step is one evaluation: at t0+at with value v (absent when nil), expecting transition want ("-" for none).
type step struct {
	at   time.Duration
	v    *float64
	want string
}

func val(at time.Duration, v float64, want string) step { return step{at: at, v: &v, want: want} }
func gone(at time.Duration, want string) step           { return step{at: at, want: want} }

func run(t *testing.T, r Rule, steps []step, counter bool) State {
	t.Helper()
	var s State
	for i, st := range steps {
		var rd *Reading
		if st.v != nil {
			rd = &Reading{Subject: "x", Value: *st.v, Counter: counter}
		}
		var tr Transition
		s, tr = Evaluate(r, "x", s, rd, t0.Add(st.at))
		got := "-"
		if tr.Kind != None {
			got = string(tr.Kind) + ":" + tr.Severity
		}
		require.Equal(t, st.want, got, "step %d at %s value %v", i, st.at, st.v)
	}
	return s
}

func TestEvaluateMetricThresholds(t *testing.T) {
	cpu := Rule{Kind: KindMetric, Metric: MetricCPU, Warning: ptr(80.0), Critical: ptr(95.0), Duration: 5 * time.Minute,
		HysteresisPercent: 5, Enabled: true}
	m := time.Minute
	tests := []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{"below never fires", cpu, []step{val(0, 50, "-"), val(10*m, 79.9, "-")}},
		{"fires after the duration, once", cpu, []step{val(0, 85, "-"), val(4*m, 85, "-"), val(5*m, 85, "firing:warning"),
			val(6*m, 90, "-"), val(30*m, 90, "-")}},
		{"a dip restarts the duration", cpu, []step{val(0, 85, "-"), val(3*m, 70, "-"), val(6*m, 85, "-"),
			val(10*m, 85, "-"), val(11*m, 85, "firing:warning")}},
		{"escalates to critical after its own duration", cpu, []step{val(0, 85, "-"), val(5*m, 96, "firing:warning"),
			val(9*m, 96, "-"), val(10*m, 96, "escalated:critical"), val(11*m, 99, "-")}},
		{"straight to critical", cpu, []step{val(0, 99, "-"), val(5*m, 99, "firing:critical")}},
		{"resolves when clear", cpu, []step{val(0, 85, "-"), val(5*m, 85, "firing:warning"), val(6*m, 10, "resolved:warning"),
			val(7*m, 10, "-")}},
		{"hysteresis damps flapping around the threshold", cpu, []step{val(0, 81, "-"), val(5*m, 81, "firing:warning"),
			val(6*m, 79, "-"), val(7*m, 81, "-"), val(8*m, 77, "-"), val(9*m, 75.9, "resolved:warning")}},
		{"critical de-escalation keeps firing until clear", cpu, []step{val(0, 99, "-"), val(5*m, 99, "firing:critical"),
			val(6*m, 85, "-"), val(7*m, 50, "resolved:critical")}},
		{"clear-for holds the alert", func() Rule { r := cpu; r.ClearFor = 2 * m; return r }(), []step{val(0, 85, "-"),
			val(5*m, 85, "firing:warning"), val(6*m, 10, "-"), val(7*m, 85, "-"), val(8*m, 10, "-"), val(9*m, 10, "-"),
			val(10*m, 10, "resolved:warning")}},
		{"fires again after resolving", cpu, []step{val(0, 85, "-"), val(5*m, 85, "firing:warning"), val(6*m, 10, "resolved:warning"),
			val(7*m, 85, "-"), val(12*m, 85, "firing:warning")}},
		{"zero duration fires at once", Rule{Kind: KindMetric, Metric: MetricFilesystem, Warning: ptr(80.0), Critical: ptr(90.0),
			Enabled: true}, []step{val(0, 91, "firing:critical"), gone(m, "resolved:critical")}},
		{"critical only", Rule{Kind: KindOffline, Critical: ptr(120.0), Enabled: true}, []step{val(0, 30, "-"),
			val(m, 119, "-"), val(2*m, 121, "firing:critical"), val(3*m, 1, "resolved:critical")}},
		{"absent subject clears", cpu, []step{val(0, 99, "-"), val(5*m, 99, "firing:critical"), gone(6*m, "resolved:critical")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.rule, tc.steps, false) })
	}
}

func TestEvaluateConditions(t *testing.T) {
	m := time.Minute
	unhealthy := Rule{Kind: KindContainer, Condition: CondUnhealthy, Severity: SeverityWarning, Enabled: true}
	missing := Rule{Kind: KindContainer, Condition: CondMissing, Severity: SeverityCritical, Enabled: true}
	restarting := Rule{Kind: KindContainer, Condition: CondRestarting, Severity: SeverityCritical, Restarts: 3,
		Window: 10 * m, Enabled: true}
	tests := []struct {
		name    string
		rule    Rule
		counter bool
		steps   []step
	}{
		{"unhealthy fires and resolves", unhealthy, false, []step{val(0, 0, "-"), val(m, 1, "firing:warning"),
			val(2*m, 1, "-"), val(3*m, 0, "resolved:warning")}},
		{"unhealthy with a duration", func() Rule { r := unhealthy; r.Duration = 2 * m; return r }(), false,
			[]step{val(0, 1, "-"), val(m, 1, "-"), val(2*m, 1, "firing:warning")}},
		{"missing only after having existed", missing, false, []step{gone(0, "-"), val(m, 0, "-"), val(2*m, 0, "-"),
			gone(3*m, "firing:critical"), gone(4*m, "-"), val(5*m, 0, "resolved:critical")}},
		{"restarts within the window", restarting, true, []step{val(0, 0, "-"), val(m, 2, "-"), val(2*m, 3, "-"),
			val(3*m, 4, "firing:critical"), val(4*m, 4, "-"), val(14*m, 4, "resolved:critical")}},
		{"slow restarts never fire", restarting, true, []step{val(0, 0, "-"), val(8*m, 2, "-"), val(16*m, 4, "-"),
			val(24*m, 6, "-"), val(32*m, 8, "-")}},
		{"recreated container resets the counter", restarting, true, []step{val(0, 3, "-"), val(m, 0, "-"), val(2*m, 3, "-"),
			val(3*m, 4, "firing:critical")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.rule, tc.steps, tc.counter) })
	}
}

func TestEvaluateIdleStateIsDroppable(t *testing.T) {
	r := Rule{Kind: KindMetric, Metric: MetricCPU, Warning: ptr(80.0), Enabled: true}
	s, _ := Evaluate(r, "", State{}, &Reading{Value: 10}, t0)
	require.True(t, s.Idle())
	s, tr := Evaluate(r, "", s, &Reading{Value: 90}, t0)
	require.Equal(t, Fired, tr.Kind)
	require.False(t, s.Idle())
	require.Equal(t, t0, s.FiredAt)
	s, tr = Evaluate(r, "", s, &Reading{Value: 10}, t0.Add(time.Minute))
	require.Equal(t, Resolved, tr.Kind)
	require.True(t, s.Idle())
}

func TestReadings(t *testing.T) {
	inodes := 97.0
	m := &collector.Metrics{
		CPU:          &collector.CPUMetrics{UsagePercent: 42, Cores: []collector.CoreMetrics{{Core: 0}, {Core: 1}}},
		Memory:       &collector.MemoryMetrics{UsedPercent: 60, SwapUsedPercent: 12},
		Load:         &collector.LoadAvg{Load1: 3},
		Filesystems:  []collector.FilesystemMetrics{{Mount: "/", UsedPercent: 81, InodesUsedPercent: &inodes}, {Mount: "/boot", UsedPercent: 20}},
		Temperatures: []collector.Temperature{{Sensor: "coretemp/Package id 0", Celsius: 61}},
	}
	o := Observation{Time: t0, Reachable: true, LastSeen: t0, Metrics: m, ContainersKnown: true, HostKeyKnown: true,
		Containers: []docker.Container{
			{Name: "web", State: docker.StateRunning, Health: docker.HealthUnhealthy, RestartCount: 5},
			{Name: "job", State: docker.StateExited, ExitCode: 0},
			{Name: "db", State: docker.StateExited, ExitCode: 137},
		}}
	metric := func(name string) Rule { return Rule{Kind: KindMetric, Metric: name} }
	cond := func(c string) Rule { return Rule{Kind: KindContainer, Condition: c} }
	tests := []struct {
		rule Rule
		obs  Observation
		want []Reading
		ok   bool
	}{
		{metric(MetricCPU), o, []Reading{{Value: 42}}, true},
		{metric(MetricMemory), o, []Reading{{Value: 60}}, true},
		{metric(MetricSwap), o, []Reading{{Value: 12}}, true},
		{metric(MetricLoadPerCore), o, []Reading{{Value: 1.5}}, true},
		{metric(MetricFilesystem), o, []Reading{{Subject: "/", Value: 81}, {Subject: "/boot", Value: 20}}, true},
		{metric(MetricInodes), o, []Reading{{Subject: "/", Value: 97}}, true},
		{metric(MetricTemperature), o, []Reading{{Subject: "coretemp/Package id 0", Value: 61}}, true},
		{metric(MetricCPU), Observation{Time: t0, Reachable: true, Metrics: &collector.Metrics{}}, nil, false},
		{metric(MetricCPU), Observation{Time: t0}, nil, false},
		{cond(CondUnhealthy), o, []Reading{{Subject: "web", Value: 1}, {Subject: "job"}, {Subject: "db"}}, true},
		{cond(CondExitedNonZero), o, []Reading{{Subject: "web"}, {Subject: "job"}, {Subject: "db", Value: 1}}, true},
		{cond(CondRestarting), o, []Reading{{Subject: "web", Value: 5, Counter: true}, {Subject: "job", Counter: true},
			{Subject: "db", Counter: true}}, true},
		{cond(CondUnhealthy), Observation{Time: t0, Reachable: true}, nil, false},
		{Rule{Kind: KindOffline}, Observation{Time: t0, LastSeen: t0.Add(-3 * time.Minute)}, []Reading{{Value: 180}}, true},
		{Rule{Kind: KindHostKey}, Observation{Time: t0, HostKeyKnown: true, HostKeyBlocked: true}, []Reading{{Value: 1}}, true},
		{Rule{Kind: KindHostKey}, Observation{Time: t0}, []Reading{{}}, false},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d_%s%s", i, tc.rule.Metric, tc.rule.Condition), func(t *testing.T) {
			got, ok := Readings(tc.rule, tc.obs)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestRuleScopeOverrideValidate(t *testing.T) {
	r := Rule{Kind: KindMetric, Metric: MetricCPU, Warning: ptr(80.0), Critical: ptr(95.0), Scope: ScopeTag, ScopeTag: "nas", Enabled: true}
	require.True(t, r.Applies("d1", []string{"home", "nas"}))
	require.False(t, r.Applies("d1", []string{"home"}))
	dev := r
	dev.Scope, dev.ScopeDevice = ScopeDevice, "d2"
	require.True(t, dev.Applies("d2", nil))
	require.False(t, dev.Applies("d1", nil))
	off := false
	require.False(t, r.WithOverride(&Override{Enabled: &off}).Applies("d1", []string{"nas"}))
	o := r.WithOverride(&Override{Critical: ptr(99.0), Duration: ptr(time.Hour)})
	require.Equal(t, 99.0, *o.Critical)
	require.Equal(t, 80.0, *o.Warning)
	require.Equal(t, time.Hour, o.Duration)
	require.Equal(t, 95.0, *r.Critical, "the rule itself is unchanged")

	require.Empty(t, r.Validate())
	bad := Rule{Kind: KindMetric, Metric: "bogus", Warning: ptr(90.0), Critical: ptr(80.0), Scope: ScopeTag, Duration: -1}
	require.Equal(t, map[string]string{"metric": fmt.Sprintf("must be one of %v", Metrics), "warning": "must not be above critical",
		"scope_tag": "is required for scope tag", "duration": "must be between 0s and 168h"}, bad.Validate())
	require.Contains(t, Rule{Kind: KindContainer, Condition: CondRestarting, Severity: SeverityWarning, Scope: ScopeAll}.Validate(), "restarts")
	require.Contains(t, Rule{Kind: KindHostKey, Severity: "loud", Scope: ScopeAll}.Validate(), "severity")
	require.Contains(t, Rule{Kind: "nope", Scope: ScopeAll}.Validate(), "kind")
}
