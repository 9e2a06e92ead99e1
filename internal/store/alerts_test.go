package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Built-in rule IDs (migrations/0006_alerts.sql).
var (
	ruleCPU        = uuid.MustParse("00000000-0000-4000-a000-000000000001")
	ruleFilesystem = uuid.MustParse("00000000-0000-4000-a000-000000000003")
)

func TestSaveAlertStatesUpsertsAndDeletesInOneCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "states")
	since := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pending := alert.State{WarnSince: &since, Value: 91}
	firing := alert.State{WarnSince: &since, Firing: alert.SeverityWarning, AlertID: uuid.NewString(), FiredAt: since, Value: 93}
	cpu := store.StateKey{RuleID: ruleCPU, Subject: ""}
	root := store.StateKey{RuleID: ruleFilesystem, Subject: "/"}
	data := store.StateKey{RuleID: ruleFilesystem, Subject: "/data"}

	steps := []struct {
		name string
		save map[store.StateKey]alert.State
		want map[store.StateKey]alert.State
	}{
		{"insert three", map[store.StateKey]alert.State{cpu: pending, root: pending, data: pending},
			map[store.StateKey]alert.State{cpu: pending, root: pending, data: pending}},
		{"update one, delete one, keep one", map[store.StateKey]alert.State{cpu: firing, root: {}},
			map[store.StateKey]alert.State{cpu: firing, data: pending}},
		{"deleting an absent state is not an error", map[store.StateKey]alert.State{root: {}},
			map[store.StateKey]alert.State{cpu: firing, data: pending}},
		{"nothing to save", nil, map[store.StateKey]alert.State{cpu: firing, data: pending}},
	}
	for _, s := range steps {
		require.NoError(t, store.SaveAlertStates(ctx, db, d.ID, s.save), s.name)
		got, err := store.LoadAlertStates(ctx, db, d.ID)
		require.NoError(t, err, s.name)
		require.Len(t, got, len(s.want), s.name)
		for k, w := range s.want {
			require.Contains(t, got, k, s.name)
			require.Equal(t, w.Firing, got[k].Firing, s.name)
			require.Equal(t, w.AlertID, got[k].AlertID, s.name)
			require.InDelta(t, w.Value, got[k].Value, 0, s.name)
			require.True(t, w.WarnSince.Equal(*got[k].WarnSince), s.name)
		}
	}

	err := store.SaveAlertStates(ctx, db, uuid.New(), map[store.StateKey]alert.State{cpu: pending})
	require.ErrorIs(t, err, store.ErrNotFound, "a deleted device's states cannot be written")
}

func TestLoadAlertInputsInOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "inputs")
	other := makeDevice(t, db, "other")
	since := time.Now().UTC()
	require.NoError(t, store.SaveAlertStates(ctx, db, d.ID, map[store.StateKey]alert.State{
		{RuleID: ruleCPU}: {WarnSince: &since, Value: 90}}))
	require.NoError(t, store.SaveAlertStates(ctx, db, other.ID, map[store.StateKey]alert.State{
		{RuleID: ruleCPU}: {WarnSince: &since, Value: 99}}))
	warn := 50.0
	require.NoError(t, store.SetRuleOverride(ctx, db, &store.RuleOverride{RuleID: ruleCPU, DeviceID: d.ID, Warning: &warn}))
	require.NoError(t, store.SetRuleOverride(ctx, db, &store.RuleOverride{RuleID: ruleFilesystem, DeviceID: other.ID, Warning: &warn}))
	_, err := store.CreateChannel(ctx, db, &store.Channel{Name: "ops", Type: "webhook", URL: "http://127.0.0.1:1/hook",
		MinSeverity: alert.SeverityWarning, Enabled: true, RatePerMinute: 10})
	require.NoError(t, err)

	now := time.Now()
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		in, err := store.LoadAlertInputs(ctx, tx, d.ID, now.Add(-time.Hour), now)
		require.NoError(t, err)
		require.Equal(t, d.ID, in.Device.ID)
		poll := 0 // check rules come with the slow-cadence collectors, which add their own
		for _, r := range in.Rules {
			if r.Kind != string(alert.KindCheck) {
				poll++
			}
		}
		require.Equal(t, 8, poll, "the built-in rules")
		require.Len(t, in.Overrides, 1, "only this device's overrides")
		require.Equal(t, ruleCPU, in.Overrides[0].RuleID)
		require.Len(t, in.States, 1, "only this device's states")
		require.InDelta(t, 90, in.States[store.StateKey{RuleID: ruleCPU}].Value, 0)
		require.Len(t, in.Channels, 1)
		require.Empty(t, in.Windows)
		require.Empty(t, in.Stale)
		return nil
	})
	require.NoError(t, err)

	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := store.LoadAlertInputs(ctx, tx, uuid.New(), now.Add(-time.Hour), now)
		return err
	})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestLoadPollSamplesMatchesLoadPollMetrics writes a poll through WritePoll and reads it back both ways, for
// every combination of needs.
func TestLoadPollSamplesMatchesLoadPollMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "samples")
	at := time.Now().UTC().Truncate(time.Millisecond)
	inodes := uint64(1000)
	_, err := store.WritePoll(ctx, db, &store.PollWrite{DeviceID: d.ID, PollKey: "k1", Time: at, Metrics: collector.Metrics{
		Time: at,
		CPU:  &collector.CPUMetrics{UsagePercent: 42, Cores: []collector.CoreMetrics{{Core: 0, UsagePercent: 40}, {Core: 1, UsagePercent: 44}}},
		Memory: &collector.MemoryMetrics{TotalBytes: 1000, UsedBytes: 250, UsedPercent: 25, SwapTotalBytes: 100,
			SwapUsedBytes: 10, SwapUsedPercent: 10},
		Load: &collector.LoadAvg{Load1: 1, Load5: 0.5, Load15: 0.25},
		Filesystems: []collector.FilesystemMetrics{
			{Mount: "/", Source: "/dev/sda1", FSType: "ext4", SizeBytes: 100, UsedBytes: 60, AvailBytes: 40, InodesTotal: inodes, InodesUsed: 10},
			{Mount: "/data", Source: "/dev/sdb1", FSType: "xfs", SizeBytes: 200, UsedBytes: 20, AvailBytes: 180}},
		Temperatures: []collector.Temperature{{Sensor: "cpu", Celsius: 48}},
	}})
	require.NoError(t, err)
	full, err := store.LoadPollMetrics(ctx, db, d.ID, at)
	require.NoError(t, err)
	require.NotNil(t, full.CPU)
	require.Len(t, full.Filesystems, 2)
	require.Len(t, full.Temperatures, 1)

	for _, tc := range []struct {
		name string
		need alert.Needs
	}{
		{"nothing", alert.Needs{}},
		{"system", alert.Needs{System: true}},
		{"filesystems", alert.Needs{Filesystems: true}},
		{"temperatures", alert.Needs{Temperatures: true}},
		{"containers only", alert.Needs{Containers: true}},
		{"everything", alert.Needs{System: true, Filesystems: true, Temperatures: true, Containers: true}},
	} {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			m, containers, err := store.LoadPollSamples(ctx, tx, d.ID, at, tc.need)
			require.NoError(t, err, tc.name)
			require.Empty(t, containers, tc.name)
			require.True(t, at.Equal(m.Time), tc.name)
			if tc.need.System || tc.need.Filesystems || tc.need.Temperatures {
				require.Equal(t, full.CPU, m.CPU, tc.name)
				require.Equal(t, full.Memory, m.Memory, tc.name)
				require.Equal(t, full.Load, m.Load, tc.name)
			} else {
				require.Nil(t, m.CPU, tc.name)
			}
			if tc.need.Filesystems {
				require.Equal(t, full.Filesystems, m.Filesystems, tc.name)
			} else {
				require.Empty(t, m.Filesystems, tc.name)
			}
			if tc.need.Temperatures {
				require.Equal(t, full.Temperatures, m.Temperatures, tc.name)
			} else {
				require.Empty(t, m.Temperatures, tc.name)
			}
			return nil
		})
		require.NoError(t, err)
	}

	// A time without a poll reads as empty metrics, as LoadPollMetrics does.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		m, _, err := store.LoadPollSamples(ctx, tx, d.ID, at.Add(time.Second), alert.Needs{System: true, Filesystems: true, Temperatures: true})
		require.NoError(t, err)
		require.Nil(t, m.CPU)
		require.Empty(t, m.Filesystems)
		require.Empty(t, m.Temperatures)
		return nil
	})
	require.NoError(t, err)
}
