package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TestDeviceFiguresMatchFleetFigures checks that one device's figures are its row of the fleet's, for a device with
// a poll and one without, and that an unknown device is not found.
func TestDeviceFiguresMatchFleetFigures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	polled, quiet := makeDevice(t, db, "polled"), makeDevice(t, db, "quiet")
	at := time.Now().UTC().Truncate(time.Millisecond)
	for i, tm := range []time.Time{at.Add(-time.Minute), at} {
		w := samplesPoll(polled, "k"+string(rune('a'+i)), tm)
		if i == 0 {
			// Fuller than any filesystem of the latest poll, and a hotter sensor, but only in the earlier poll.
			w.Metrics.Filesystems = append(w.Metrics.Filesystems, collector.FilesystemMetrics{Mount: "/old", Source: "/dev/sdc1",
				FSType: "ext4", SizeBytes: 100, UsedBytes: 99, AvailBytes: 1})
			w.Metrics.Temperatures = append(w.Metrics.Temperatures, collector.Temperature{Sensor: "gone", Celsius: 99})
		}
		_, err := store.WritePoll(ctx, db, w)
		require.NoError(t, err)
	}
	fleet, err := store.FleetFigures(ctx, db, 15*time.Minute)
	require.NoError(t, err)
	require.Len(t, fleet, 2)
	for _, want := range fleet {
		got, err := store.DeviceFigures(ctx, db, want.DeviceID, 15*time.Minute)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	got, err := store.DeviceFigures(ctx, db, polled.ID, 15*time.Minute)
	require.NoError(t, err)
	require.NotNil(t, got.CPUPercent)
	require.InDelta(t, 80, *got.CPUPercent, 0.01)
	require.Equal(t, "/var", *got.DiskMaxMount, "the fullest filesystem of the latest poll")
	require.InDelta(t, 81.7, *got.TempMaxCelsius, 0.01)
	got, err = store.DeviceFigures(ctx, db, quiet.ID, 15*time.Minute)
	require.NoError(t, err)
	require.Nil(t, got.CPUPercent)
	_, err = store.DeviceFigures(ctx, db, uuid.New(), 15*time.Minute)
	require.ErrorIs(t, err, store.ErrNotFound)
}
