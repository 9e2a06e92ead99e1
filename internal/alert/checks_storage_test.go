package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStorageCheckThresholds: check rules fire at the level their thresholds say, like metric rules (pool
// capacity 85 % is a warning, 95 % critical), and boolean checks fire at 1.
func TestStorageCheckThresholds(t *testing.T) {
	t.Parallel()
	w, c := 80.0, 90.0
	capacity := Rule{Kind: KindCheck, Condition: CheckPoolCapacity, Warning: &w, Critical: &c, Severity: SeverityCritical, Enabled: true, Scope: ScopeAll}
	require.Empty(t, capacity.Validate())
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value float64
		want  string
	}{{50, ""}, {85, SeverityWarning}, {95, SeverityCritical}} {
		_, tr := Evaluate(capacity, "tank", State{}, &Reading{Subject: "tank", Value: tc.value}, now)
		if tc.want == "" {
			require.NotEqual(t, Fired, tr.Kind, "%v", tc.value)
			continue
		}
		require.Equal(t, Fired, tr.Kind, "%v", tc.value)
		require.Equal(t, tc.want, tr.Severity, "%v", tc.value)
	}
	one := 1.0
	failing := Rule{Kind: KindCheck, Condition: CheckDriveFailing, Critical: &one, Severity: SeverityCritical, Enabled: true}
	_, tr := Evaluate(failing, "S1", State{}, &Reading{Subject: "S1", Value: 1}, now)
	require.Equal(t, Fired, tr.Kind)
	require.Equal(t, SeverityCritical, tr.Severity)
	_, tr = Evaluate(failing, "S1", State{}, &Reading{Subject: "S1", Value: 0}, now)
	require.NotEqual(t, Fired, tr.Kind)
	require.Contains(t, Describe(failing, "S1", 1), "drive S1 is failing")
	require.Contains(t, Describe(Rule{Kind: KindCheck, Condition: CheckPoolScrubAge}, "tank", NoScrubDays), "no completed scrub")
}
