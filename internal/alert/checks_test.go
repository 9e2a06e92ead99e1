package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A check rule reads the collection's readings of its check only: an observation without them (a poll) leaves
// the rule's states alone, and it fires and resolves like a metric rule when they come.
func TestCheckRules(t *testing.T) {
	saved := checks
	t.Cleanup(func() { checks = saved })
	checks = append(append([]Check(nil), saved...), Check{Name: "disk_health", Describe: func(subject string, v float64) string {
		return fmt.Sprintf("drive %s health %g", subject, v)
	}})

	warn, crit := 1.0, 2.0
	r := Rule{Kind: KindCheck, Condition: "disk_health", Warning: &warn, Critical: &crit, Scope: ScopeAll, Enabled: true}
	require.Empty(t, r.Validate())
	bad := r
	bad.Condition = "nope"
	require.Contains(t, bad.Validate(), "condition")
	bad = r
	bad.Warning, bad.Critical = nil, nil
	require.Contains(t, bad.Validate(), "critical")

	t0 := time.Unix(1_700_000_000, 0)
	_, known := Readings(r, Observation{Time: t0, Reachable: true})
	require.False(t, known, "a poll says nothing about checks")
	_, known = Readings(r, Observation{Time: t0, Checks: map[string][]Reading{"other": {{Value: 2}}}})
	require.False(t, known, "another collector's checks say nothing about this one")

	rs, known := Readings(r, Observation{Time: t0, Checks: map[string][]Reading{"disk_health": {{Subject: "SN1", Value: 2}}}})
	require.True(t, known)
	st, tr := Evaluate(r, "SN1", State{}, &rs[0], t0)
	require.Equal(t, Fired, tr.Kind)
	require.Equal(t, SeverityCritical, tr.Severity)
	require.Equal(t, "drive SN1 health 2", tr.Message)
	_, tr = Evaluate(r, "SN1", st, &Reading{Subject: "SN1", Value: 0}, t0.Add(10*time.Minute))
	require.Equal(t, Resolved, tr.Kind)
}
