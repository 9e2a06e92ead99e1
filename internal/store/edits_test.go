package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func TestUpdateUserSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	mk := func(name string) *store.UserSchedule {
		s, err := store.CreateUserSchedule(ctx, db, &store.UserSchedule{Name: name, Spec: store.ScheduleSpec{Cron: "0 3 * * *"},
			Action: store.ScheduleAction{Type: store.ScheduleImagePrune, Tag: "nas", Concurrency: 1}, Overlap: "skip", Paused: true})
		require.NoError(t, err)
		return s
	}
	a, b := mk("alpha"), mk("beta")

	edit := *a
	edit.Name, edit.Spec, edit.Overlap = "gamma", store.ScheduleSpec{Every: "6h", TimeZone: "Europe/Berlin"}, "buffer_one"
	edit.Action = store.ScheduleAction{Type: store.ScheduleZFSScrub, DeviceID: uuid.NewString(), Pool: "*", Concurrency: 1}
	edit.Paused = false // not the update's to change
	got, err := store.UpdateUserSchedule(ctx, db, &edit)
	require.NoError(t, err)
	require.Equal(t, "gamma", got.Name)
	require.Equal(t, edit.Spec, got.Spec)
	require.Equal(t, edit.Action, got.Action)
	require.Equal(t, "buffer_one", got.Overlap)
	require.True(t, got.Paused, "the paused state follows Temporal, not an edit")
	require.Equal(t, a.CreatedAt, got.CreatedAt)
	require.False(t, got.UpdatedAt.Before(a.UpdatedAt))

	edit.Name = b.Name
	_, err = store.UpdateUserSchedule(ctx, db, &edit)
	require.ErrorIs(t, err, store.ErrConflict)
	edit.ID = uuid.New()
	edit.Name = "delta"
	_, err = store.UpdateUserSchedule(ctx, db, &edit)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Inside a transaction that rolls back (what UpdateSchedule does when Temporal refuses), nothing changes.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		e := *got
		e.Name = "epsilon"
		_, err := store.UpdateUserSchedule(ctx, tx, &e)
		require.NoError(t, err)
		return store.ErrConflict
	})
	require.ErrorIs(t, err, store.ErrConflict)
	again, err := store.GetUserSchedule(ctx, db, a.ID)
	require.NoError(t, err)
	require.Equal(t, "gamma", again.Name)
}

func TestUpdateMaintenanceWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	dev := makeDevice(t, db, "win")
	start, end := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w, err := store.CreateMaintenanceWindow(ctx, db, &store.MaintenanceWindow{Name: "upgrade", DeviceID: &dev.ID,
		StartsAt: &start, EndsAt: &end, TimeZone: "UTC"})
	require.NoError(t, err)

	edit := *w
	edit.Name, edit.DeviceID, edit.Tag = "nightly", nil, "nas"
	edit.StartsAt, edit.EndsAt = nil, nil
	edit.StartTime, edit.Duration, edit.Weekdays, edit.TimeZone = "02:00", 90*time.Minute, []int{0, 6}, "Europe/Berlin"
	got, err := store.UpdateMaintenanceWindow(ctx, db, &edit)
	require.NoError(t, err)
	require.Equal(t, w.CreatedAt, got.CreatedAt)
	got.CreatedAt = edit.CreatedAt
	require.Equal(t, &edit, got)
	read, err := store.GetMaintenanceWindow(ctx, db, w.ID)
	require.NoError(t, err)
	require.Equal(t, got, read)

	edit.ID = uuid.New()
	_, err = store.UpdateMaintenanceWindow(ctx, db, &edit)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = store.GetMaintenanceWindow(ctx, db, edit.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}
