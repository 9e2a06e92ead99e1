package activities_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// alertPoll is poll i of the scenario: CPU, the root filesystem and a container's health change over time so
// that the built-in CPU, filesystem and container-unhealthy rules fire and resolve.
func alertPoll(dev *store.Device, i int, at time.Time) *store.PollWrite {
	cpu := 10.0
	if i >= 3 && i < 20 {
		cpu = 96.5 // past critical for longer than the rule's 5 minutes at one poll every 30 s
	}
	used := uint64(30)
	if i >= 8 && i < 12 {
		used = 85
	}
	health := docker.HealthHealthy
	if i >= 5 && i < 9 {
		health = docker.HealthUnhealthy
	}
	return &store.PollWrite{DeviceID: dev.ID, PollKey: fmt.Sprintf("p%d", i), Time: at, Metrics: collector.Metrics{Time: at,
		CPU:         &collector.CPUMetrics{UsagePercent: cpu},
		Memory:      &collector.MemoryMetrics{TotalBytes: 1000, UsedBytes: 100, UsedPercent: 10},
		Filesystems: []collector.FilesystemMetrics{{Mount: "/", SizeBytes: 100, UsedBytes: used, AvailBytes: 100 - used}}},
		Containers: &store.ContainerWrite{Docker: docker.Availability{State: docker.Available}, List: []docker.Container{
			{ID: "c1", Name: "web", Image: "nginx", State: docker.StateRunning, Health: health}}}}
}

// alertOutcome is what an evaluation left behind, comparable across devices.
type alertOutcome struct {
	Fired, Resolved, Notices int
}

// TestEvaluateWithinPollMatchesSeparateEvaluation runs the same polls on two devices: one evaluated the old way
// (WritePoll, then EvaluateAlerts reading the samples back), one evaluating inside the poll's transaction from the
// poll's own figures (#17). Every poll must fire, resolve and notify the same, and the alerts and states left
// behind must be the same. A quiet in-poll evaluation reads no samples back.
func TestEvaluateWithinPollMatchesSeparateEvaluation(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testdb.URL(t))
	require.NoError(t, err)
	log := &sqlLog{}
	cfg.ConnConfig.Tracer = log
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = store.CreateChannel(ctx, db, &store.Channel{Name: "hook", Type: "webhook", URL: "http://127.0.0.1:1/",
		MinSeverity: "warning", Enabled: true, RatePerMinute: 30})
	require.NoError(t, err)
	mk := func(name string) *store.Device {
		d, err := store.CreateDevice(ctx, db, &store.Device{Name: name, Host: "192.0.2.1", Port: 22, User: "root",
			DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: store.PolicyRequireApproval})
		require.NoError(t, err)
		return d
	}
	sep, inPoll := mk("separate"), mk("in-poll")

	base := time.Now().UTC().Truncate(time.Second)
	now := base
	acts := &activities.Activities{DB: db, Now: func() time.Time { return now }}
	var total alertOutcome
	keys := map[string]bool{}
	for i := 0; i < 30; i++ {
		now = base.Add(time.Duration(i) * 30 * time.Second)

		_, err := store.WritePoll(ctx, db, alertPoll(sep, i, now))
		require.NoError(t, err)
		want, err := acts.EvaluateAlerts(ctx, activities.EvaluateAlertsInput{DeviceID: sep.ID.String(), Collected: now})
		require.NoError(t, err)

		w := alertPoll(inPoll, i, now)
		got := &activities.EvaluateAlertsResult{}
		activities.EvaluateWithinPoll(acts, w, got)
		var out *store.PollOutcome
		_, _ = log.record(func() { out, err = store.WritePoll(ctx, db, w) })
		require.NoError(t, err)
		require.False(t, out.Duplicate)
		log.mu.Lock()
		statements := append([]string(nil), log.statements...)
		log.mu.Unlock()
		for _, s := range statements {
			require.False(t, strings.HasPrefix(s, "SELECT cpu_pct"), "poll %d read its samples back: %s", i, s)
			require.NotContains(t, s, "FROM filesystem_metrics", "poll %d", i)
			require.NotContains(t, s, "SELECT detail FROM containers", "poll %d", i)
		}

		require.Equal(t, alertOutcome{want.Fired, want.Resolved, len(want.Notices)},
			alertOutcome{got.Fired, got.Resolved, len(got.Notices)}, "poll %d", i)
		total.Fired += got.Fired
		total.Resolved += got.Resolved
		for _, n := range got.Notices {
			keys[n.WorkflowKey()] = true
		}
	}
	// The scenario exercises every kind of transition, so the comparison above compared something.
	require.Equal(t, 3, total.Fired, "cpu, filesystem and container-unhealthy fired")
	require.Equal(t, 3, total.Resolved)
	// Firing and resolved of each; deliveries no Notify workflow attempted come back as orphans on later polls.
	require.Len(t, keys, 6)

	alertsOf := func(d *store.Device) []string {
		rows, err := db.Query(ctx, `SELECT r.name || '/' || a.subject || '/' || a.severity || '/' || a.state || '/' ||
			a.notices FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE a.device_id = $1 ORDER BY 1`, d.ID)
		require.NoError(t, err)
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.Len(t, alertsOf(sep), 3)
	require.Equal(t, alertsOf(sep), alertsOf(inPoll))
	sepStates, err := store.LoadAlertStates(ctx, db, sep.ID)
	require.NoError(t, err)
	inStates, err := store.LoadAlertStates(ctx, db, inPoll.ID)
	require.NoError(t, err)
	require.Equal(t, len(sepStates), len(inStates))
}
