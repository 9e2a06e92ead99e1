package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/store"
)

// HousekeepingResult is what one housekeeping run did, shown in the Temporal UI.
type HousekeepingResult struct {
	PartitionsCreated int
	HourlyRollupRows  int64
	DailyRollupRows   int64
	Pruned            *store.PruneResult
}

// EnsurePartitionsAhead creates the daily partitions of every time-series table from yesterday to a week ahead.
func (a *Activities) EnsurePartitionsAhead(ctx context.Context) (int, error) {
	n, err := store.EnsurePartitions(ctx, a.DB, a.now().AddDate(0, 0, -1), 8)
	if err != nil {
		return 0, fmt.Errorf("housekeeping: %w", err)
	}
	return n, nil
}

// RefreshRollups recomputes the hourly rollups of the last three hours and the daily rollups of today and
// yesterday (both idempotent), so long-range queries see data up to the last run.
func (a *Activities) RefreshRollups(ctx context.Context) (*HousekeepingResult, error) {
	now := a.now().UTC()
	hourly, err := store.RefreshHourlyRollups(ctx, a.DB, now.Add(-3*time.Hour), now)
	if err != nil {
		return nil, err
	}
	daily, err := store.RefreshDailyRollups(ctx, a.DB, now.Truncate(24*time.Hour).AddDate(0, 0, -1), now)
	if err != nil {
		return nil, err
	}
	return &HousekeepingResult{HourlyRollupRows: hourly, DailyRollupRows: daily}, nil
}

// ApplyRetention drops partitions and rows past their retention.
func (a *Activities) ApplyRetention(ctx context.Context) (*store.PruneResult, error) {
	r := a.Retention
	if r == (store.Retention{}) {
		r = store.DefaultRetention
	}
	return store.ApplyRetention(ctx, a.DB, a.now(), r)
}
