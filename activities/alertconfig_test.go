package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// Two workers, each with its own cached alert configuration, evaluate their devices over one database. A rule
// changed through the store function the API calls takes effect at the very next evaluation on both workers.
func TestAlertConfigCacheTwoWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Pool(t)
	base := time.Now().UTC().Truncate(time.Second)
	now := base
	clock := func() time.Time { return now }
	workers := []*activities.Activities{
		{DB: db, Now: clock, AlertConfig: &store.AlertConfigCache{}},
		{DB: db, Now: clock, AlertConfig: &store.AlertConfigCache{}},
	}
	devs := make([]*store.Device, len(workers))
	for i := range devs {
		var err error
		devs[i], err = store.CreateDevice(ctx, db, &store.Device{Name: "web" + string(rune('a'+i)), Host: "192.0.2.1",
			Port: 22, User: "root", DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true,
			HostKeyPolicy: store.PolicyRequireApproval})
		require.NoError(t, err)
	}
	// poll writes a CPU reading of 50 % for each device and has its worker evaluate it; it returns the firings.
	poll := func(step int) []int {
		now = base.Add(time.Duration(step) * 30 * time.Second)
		fired := make([]int, len(workers))
		for i, w := range workers {
			_, err := store.WritePoll(ctx, db, &store.PollWrite{DeviceID: devs[i].ID, PollKey: uuid.NewString(), Time: now,
				Metrics: collector.Metrics{Time: now, CPU: &collector.CPUMetrics{UsagePercent: 50},
					Memory: &collector.MemoryMetrics{TotalBytes: 1000, UsedBytes: 100, UsedPercent: 10}}})
			require.NoError(t, err)
			res, err := w.EvaluateAlerts(ctx, activities.EvaluateAlertsInput{DeviceID: devs[i].ID.String(), Collected: now})
			require.NoError(t, err)
			fired[i] = res.Fired
		}
		return fired
	}

	require.Equal(t, []int{0, 0}, poll(0))
	require.Equal(t, []int{0, 0}, poll(1))
	for _, w := range workers {
		require.EqualValues(t, 1, w.AlertConfig.Loads(), "the configuration is read once while it does not change")
	}

	cpu, err := store.GetAlertRule(ctx, db, uuid.MustParse("00000000-0000-4000-a000-000000000001")) // built-in cpu
	require.NoError(t, err)
	warn := 40.0
	cpu.Warning, cpu.Duration = &warn, 0
	_, err = store.UpdateAlertRule(ctx, db, cpu)
	require.NoError(t, err)

	require.Equal(t, []int{1, 1}, poll(2), "both workers use the new threshold at their next evaluation")
	for _, w := range workers {
		require.EqualValues(t, 2, w.AlertConfig.Loads())
	}
}
