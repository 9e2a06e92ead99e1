package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
)

// loadBoth reads a device's alert inputs through the cache and uncached, in one transaction each, and requires
// them equal: the cache never changes what an evaluation sees.
func loadBoth(t *testing.T, db *pgxpool.Pool, cache *store.AlertConfigCache, id uuid.UUID) *store.AlertInputs {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var cached, direct *store.AlertInputs
	require.NoError(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		cached, err = store.LoadAlertInputsCached(ctx, tx, cache, id, now.Add(-time.Hour), now)
		return err
	}))
	require.NoError(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		direct, err = store.LoadAlertInputs(ctx, tx, id, now.Add(-time.Hour), now)
		return err
	}))
	require.Equal(t, direct, cached)
	return cached
}

// Two workers' caches over one database: the configuration is read once per cache while it does not change,
// and every change the API's store functions make — rules, overrides, windows, channels, and a device deleted
// with its overrides — is seen by the next evaluation through either cache.
func TestAlertConfigCacheSeesEveryChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "cached")
	gone := makeDevice(t, db, "gone")
	a, b := &store.AlertConfigCache{}, &store.AlertConfigCache{}

	for range 3 {
		loadBoth(t, db, a, d.ID)
		loadBoth(t, db, a, gone.ID)
		loadBoth(t, db, b, d.ID)
	}
	require.EqualValues(t, 1, a.Loads(), "an unchanged configuration is read once")
	require.EqualValues(t, 1, b.Loads())

	// after runs one change and checks that both caches show it at the next load.
	step := int64(1)
	after := func(what string, change func() error, check func(in *store.AlertInputs)) {
		t.Helper()
		require.NoError(t, change(), what)
		step++
		for _, c := range []*store.AlertConfigCache{a, b} {
			check(loadBoth(t, db, c, d.ID))
			require.Equal(t, step, c.Loads(), "%s: read again once", what)
			loadBoth(t, db, c, d.ID)
			require.Equal(t, step, c.Loads(), "%s: and then served from the copy", what)
		}
	}

	rule, err := store.GetAlertRule(ctx, db, ruleCPU)
	require.NoError(t, err)
	warn := 42.0
	rule.Warning = &warn
	after("rule threshold", func() error { _, err := store.UpdateAlertRule(ctx, db, rule); return err },
		func(in *store.AlertInputs) {
			for _, r := range in.Rules {
				if r.ID == ruleCPU {
					require.InDelta(t, 42, *r.Warning, 0)
				}
			}
		})
	after("override", func() error {
		return store.SetRuleOverride(ctx, db, &store.RuleOverride{RuleID: ruleCPU, DeviceID: d.ID, Warning: &warn})
	}, func(in *store.AlertInputs) { require.Len(t, in.Overrides, 1) })
	after("another device's override", func() error {
		return store.SetRuleOverride(ctx, db, &store.RuleOverride{RuleID: ruleFilesystem, DeviceID: gone.ID, Warning: &warn})
	}, func(in *store.AlertInputs) { require.Len(t, in.Overrides, 1, "only this device's overrides") })
	var win *store.MaintenanceWindow
	after("window", func() error {
		start, end := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
		win, err = store.CreateMaintenanceWindow(ctx, db, &store.MaintenanceWindow{Name: "upgrade", DeviceID: &d.ID,
			StartsAt: &start, EndsAt: &end, TimeZone: "UTC"})
		return err
	}, func(in *store.AlertInputs) { require.Len(t, in.Windows, 1) })
	var ch *store.Channel
	after("channel", func() error {
		ch, err = store.CreateChannel(ctx, db, &store.Channel{Name: "ops", Type: "webhook", URL: "http://127.0.0.1:1/hook",
			MinSeverity: alert.SeverityWarning, Enabled: true, RatePerMinute: 10})
		return err
	}, func(in *store.AlertInputs) { require.Len(t, in.Channels, 1) })
	after("channel deleted", func() error { return store.DeleteChannel(ctx, db, ch.ID) },
		func(in *store.AlertInputs) { require.Empty(t, in.Channels) })
	after("window deleted", func() error { return store.DeleteMaintenanceWindow(ctx, db, win.ID) },
		func(in *store.AlertInputs) { require.Empty(t, in.Windows) })
	after("device deleted with its overrides", func() error { return store.DeleteDevice(ctx, db, gone.ID) },
		func(in *store.AlertInputs) { require.Len(t, in.Overrides, 1) })
	after("override deleted", func() error { return store.DeleteRuleOverride(ctx, db, ruleCPU, d.ID) },
		func(in *store.AlertInputs) { require.Empty(t, in.Overrides) })

	// A deleted device is not found, cached or not.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := store.LoadAlertInputsCached(ctx, tx, a, gone.ID, time.Now().Add(-time.Hour), time.Now())
		return err
	})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A change still uncommitted is not seen, and the copy read meanwhile is not taken for the new version.
func TestAlertConfigCacheUncommittedChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "pending-change")
	c := &store.AlertConfigCache{}
	loadBoth(t, db, c, d.ID)

	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	ch, err := store.CreateChannel(ctx, tx, &store.Channel{Name: "late", Type: "webhook", URL: "http://127.0.0.1:1/hook",
		MinSeverity: alert.SeverityWarning, Enabled: true, RatePerMinute: 10})
	require.NoError(t, err)
	require.Empty(t, loadBoth(t, db, c, d.ID).Channels)
	require.NoError(t, tx.Commit(ctx))
	in := loadBoth(t, db, c, d.ID)
	require.Len(t, in.Channels, 1)
	require.Equal(t, ch.ID, in.Channels[0].ID)
}
