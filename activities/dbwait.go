package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Bounds of waiting for PostgreSQL inside an activity.
const (
	dbWaitMax      = time.Minute
	dbWaitFirst    = 250 * time.Millisecond
	dbWaitInterval = 5 * time.Second
)

// awaitDB runs fn and, while it fails because PostgreSQL is unreachable (a restart, a failover), runs it again
// with back-off for up to dbWaitMax, heartbeating meanwhile. Activities with a small attempt budget (container
// operations: three attempts a few seconds apart, because each attempt may act on a device) would otherwise spend
// it all on a database restart and fail an operation that nothing prevented (#15). fn must be safe to repeat.
func awaitDB(ctx context.Context, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(dbWaitMax)
	wait := dbWaitFirst
	for {
		err := fn(ctx)
		if err == nil || !store.Unavailable(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, "waiting for the database")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, dbWaitInterval)
	}
}
