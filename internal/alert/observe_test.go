package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// TestNeedsCoverReadings checks that a rule's readings stay the same when only the parts of the observation
// that Needs names are present: the evaluator reads back only those samples.
func TestNeedsCoverReadings(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	inodes := 12.5
	full := Observation{Time: now, Reachable: true, LastSeen: now.Add(-time.Minute), HostKeyKnown: true, Cores: 4,
		Metrics: &collector.Metrics{Time: now,
			CPU:    &collector.CPUMetrics{UsagePercent: 50, Cores: []collector.CoreMetrics{{Core: 0}, {Core: 1}}},
			Memory: &collector.MemoryMetrics{UsedPercent: 60, SwapUsedPercent: 5},
			Load:   &collector.LoadAvg{Load1: 3},
			Filesystems: []collector.FilesystemMetrics{{Mount: "/", UsedPercent: 70, InodesUsedPercent: &inodes},
				{Mount: "/data", UsedPercent: 20}},
			Temperatures: []collector.Temperature{{Sensor: "cpu", Celsius: 51}}},
		Containers:      []docker.Container{{Name: "db", State: docker.StateExited, ExitCode: 1, RestartCount: 3}},
		ContainersKnown: true,
	}
	rules := []Rule{{Kind: KindOffline}, {Kind: KindHostKey}}
	for _, m := range Metrics {
		rules = append(rules, Rule{Kind: KindMetric, Metric: m})
	}
	for _, c := range Conditions {
		rules = append(rules, Rule{Kind: KindContainer, Condition: c})
	}
	for _, r := range rules {
		t.Run(string(r.Kind)+"/"+r.Metric+r.Condition, func(t *testing.T) {
			t.Parallel()
			n := r.Needs()
			// The poll's samples as LoadPollSamples returns them for n: the system row's parts travel together.
			part := full
			m := &collector.Metrics{Time: now}
			if n.System || n.Filesystems || n.Temperatures {
				m.CPU, m.Memory, m.Load = full.Metrics.CPU, full.Metrics.Memory, full.Metrics.Load
			}
			if n.Filesystems {
				m.Filesystems = full.Metrics.Filesystems
			}
			if n.Temperatures {
				m.Temperatures = full.Metrics.Temperatures
			}
			part.Metrics = m
			if !n.Containers {
				part.Containers = nil
			}
			want, wantKnown := Readings(r, full)
			got, gotKnown := Readings(r, part)
			require.Equal(t, wantKnown, gotKnown)
			require.Equal(t, want, got)
			if r.Kind == KindMetric || r.Kind == KindContainer {
				require.True(t, n.Any(), "a metric or container rule reads some sample")
				require.NotEmpty(t, want, "the full observation has readings for the rule")
			}
		})
	}
}

func TestNeedsAdd(t *testing.T) {
	t.Parallel()
	var n Needs
	require.False(t, n.Any())
	n.Add(Rule{Kind: KindOffline}.Needs())
	require.False(t, n.Any(), "offline reads no sample")
	n.Add(Rule{Kind: KindMetric, Metric: MetricTemperature}.Needs())
	n.Add(Rule{Kind: KindContainer, Condition: CondMissing}.Needs())
	require.Equal(t, Needs{Temperatures: true, Containers: true}, n)
}
