package alert

import (
	"fmt"
	"slices"
	"time"
)

// Window is a maintenance window: alerts of the devices it covers are recorded but not sent while it is
// active. It covers one device or every device with a tag, once (StartsAt to EndsAt) or every Weekdays at
// StartTime ("HH:MM") in TimeZone for Duration (no weekdays: every day).
type Window struct {
	DeviceID  string
	Tag       string
	StartsAt  *time.Time
	EndsAt    *time.Time
	Weekdays  []time.Weekday
	StartTime string
	Duration  time.Duration
	TimeZone  string
}

// maxWindow bounds a recurring window, so Active needs to look back only a week.
const maxWindow = 7 * 24 * time.Hour

// Validate checks the window; the map names each bad field (API JSON names).
func (w Window) Validate() map[string]string {
	bad := map[string]string{}
	if (w.DeviceID == "") == (w.Tag == "") {
		bad["device_id"] = "exactly one of device_id and tag is required"
	}
	oneOff := w.StartsAt != nil || w.EndsAt != nil
	recurring := w.StartTime != "" || len(w.Weekdays) > 0 || w.Duration != 0
	switch {
	case oneOff && recurring:
		bad["starts_at"] = "a window is either one-off (starts_at, ends_at) or recurring (start_time, duration, weekdays)"
	case oneOff:
		if w.StartsAt == nil || w.EndsAt == nil || !w.EndsAt.After(*w.StartsAt) {
			bad["ends_at"] = "starts_at and ends_at are required and ends_at must be after starts_at"
		}
	case recurring:
		if _, _, err := clock(w.StartTime); err != nil {
			bad["start_time"] = "must be HH:MM"
		}
		if w.Duration <= 0 || w.Duration > maxWindow {
			bad["duration"] = "must be between 1s and 168h"
		}
		for _, d := range w.Weekdays {
			if d < time.Sunday || d > time.Saturday {
				bad["weekdays"] = "must be 0 (Sunday) to 6 (Saturday)"
			}
		}
	default:
		bad["starts_at"] = "give starts_at and ends_at, or start_time and duration"
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		bad["time_zone"] = "must be an IANA time zone such as Europe/Berlin"
	}
	return bad
}

// Covers reports whether the window is about this device.
func (w Window) Covers(deviceID string, tags []string) bool {
	if w.DeviceID != "" {
		return w.DeviceID == deviceID
	}
	return slices.Contains(tags, w.Tag)
}

// Active reports whether t falls inside the window. Recurring windows follow the wall clock of their time
// zone, so a nightly window stays at 02:00 across daylight-saving changes.
func (w Window) Active(t time.Time) bool {
	if w.StartsAt != nil && w.EndsAt != nil {
		return !t.Before(*w.StartsAt) && t.Before(*w.EndsAt)
	}
	hh, mm, err := clock(w.StartTime)
	if err != nil || w.Duration <= 0 {
		return false
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := t.In(loc)
	days := int(min(w.Duration, maxWindow)/(24*time.Hour)) + 1
	for back := 0; back <= days; back++ {
		d := local.AddDate(0, 0, -back)
		start := time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc)
		if len(w.Weekdays) > 0 && !slices.Contains(w.Weekdays, start.Weekday()) {
			continue
		}
		if !t.Before(start) && t.Before(start.Add(w.Duration)) {
			return true
		}
	}
	return false
}

// InMaintenance reports whether any window covering the device is active at t.
func InMaintenance(ws []Window, deviceID string, tags []string, t time.Time) bool {
	for _, w := range ws {
		if w.Covers(deviceID, tags) && w.Active(t) {
			return true
		}
	}
	return false
}

func clock(s string) (int, int, error) {
	var hh, mm int
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, fmt.Errorf("start time %q: want HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &hh, &mm); err != nil || hh > 23 || mm > 59 || hh < 0 || mm < 0 {
		return 0, 0, fmt.Errorf("start time %q: want HH:MM", s)
	}
	return hh, mm, nil
}
