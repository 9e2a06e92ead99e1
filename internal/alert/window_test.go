package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWindowActive(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at := func(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	start, end := at(time.UTC, 2026, 11, 25, 10, 0), at(time.UTC, 2026, 11, 25, 12, 0)
	oneOff := Window{DeviceID: "d", StartsAt: &start, EndsAt: &end, TimeZone: "UTC"}
	nightly := Window{Tag: "nas", StartTime: "02:00", Duration: 2 * time.Hour, TimeZone: "Europe/Berlin"}
	// Saturday 23:00 for 3h: crosses midnight into Sunday.
	weekend := Window{Tag: "nas", StartTime: "23:00", Duration: 3 * time.Hour, Weekdays: []time.Weekday{time.Saturday}, TimeZone: "UTC"}
	tests := []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"one-off before", oneOff, start.Add(-time.Second), false},
		{"one-off start", oneOff, start, true},
		{"one-off inside", oneOff, start.Add(time.Hour), true},
		{"one-off end is outside", oneOff, end, false},
		{"nightly inside, local time", nightly, at(berlin, 2026, 11, 25, 3, 59), true},
		{"nightly after", nightly, at(berlin, 2026, 11, 25, 4, 0), false},
		{"nightly in UTC terms (01:30Z = 02:30 CET)", nightly, at(time.UTC, 2026, 11, 25, 1, 30), true},
		{"nightly follows the wall clock in summer (00:30Z = 02:30 CEST)", nightly, at(time.UTC, 2026, 7, 1, 0, 30), true},
		{"nightly before", nightly, at(berlin, 2026, 11, 25, 1, 59), false},
		{"weekday start", weekend, at(time.UTC, 2026, 11, 28, 23, 30), true},   // Saturday
		{"crosses midnight", weekend, at(time.UTC, 2026, 11, 29, 1, 30), true}, // Sunday
		{"after crossing", weekend, at(time.UTC, 2026, 11, 29, 2, 0), false},   // Sunday
		{"other weekday", weekend, at(time.UTC, 2026, 11, 27, 23, 30), false},  // Friday
		{"bad start time never active", Window{Tag: "x", StartTime: "2am", Duration: time.Hour, TimeZone: "UTC"}, start, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.w.Active(tc.t)) })
	}
}

func TestWindowCoversValidate(t *testing.T) {
	ws := []Window{{DeviceID: "d1", StartTime: "00:00", Duration: 24 * time.Hour, TimeZone: "UTC"},
		{Tag: "lab", StartTime: "00:00", Duration: 24 * time.Hour, TimeZone: "UTC"}}
	require.True(t, InMaintenance(ws, "d1", nil, t0))
	require.True(t, InMaintenance(ws, "d2", []string{"lab"}, t0))
	require.False(t, InMaintenance(ws, "d2", []string{"home"}, t0))

	require.Empty(t, ws[0].Validate())
	require.Contains(t, Window{TimeZone: "UTC"}.Validate(), "device_id")
	require.Contains(t, Window{Tag: "x", StartTime: "25:00", Duration: time.Hour, TimeZone: "UTC"}.Validate(), "start_time")
	require.Contains(t, Window{Tag: "x", StartTime: "01:00", Duration: time.Hour, TimeZone: "Mars/Base"}.Validate(), "time_zone")
	end := t0.Add(-time.Hour)
	require.Contains(t, Window{Tag: "x", StartsAt: &t0, EndsAt: &end, TimeZone: "UTC"}.Validate(), "ends_at")
	require.Contains(t, Window{Tag: "x", StartsAt: &t0, EndsAt: &end, StartTime: "01:00", TimeZone: "UTC"}.Validate(), "starts_at")
	require.Contains(t, Window{Tag: "x", TimeZone: "UTC"}.Validate(), "starts_at")
}
