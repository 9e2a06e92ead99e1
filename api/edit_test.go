package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// TestScheduleUpdate edits a schedule's spec, action, overlap and name and sees Temporal follow; a spec Temporal
// refuses and an invalid field change nothing, in the store or in Temporal (#14).
func TestScheduleUpdate(t *testing.T) {
	ts := newServer(t)
	dev := ts.createDevice("nas", map[string]any{"enabled": false})
	wc := &workflows.Client{Client: ts.tc}
	type view struct {
		ID      string             `json:"id"`
		Name    string             `json:"name"`
		Spec    store.ScheduleSpec `json:"spec"`
		Overlap string             `json:"overlap"`
		Action  store.ScheduleAction
		Paused  bool `json:"paused"`
	}
	var sch view
	ts.req("POST", "/api/v1/schedules", ts.admin, map[string]any{"name": "nightly",
		"spec":   map[string]any{"cron": "0 3 * * *", "time_zone": "UTC"},
		"action": map[string]any{"type": "container", "device_id": dev.ID, "container": "web", "action": "restart"}}).
		requireStatus(t, http.StatusCreated).into(t, &sch)
	t.Cleanup(func() { _ = wc.DeleteUserSchedule(context.Background(), sch.ID) })
	path := "/api/v1/schedules/" + sch.ID
	describe := func() *workflows.ScheduleInfo {
		t.Helper()
		info, err := wc.DescribeUserSchedule(context.Background(), sch.ID)
		require.NoError(t, err)
		return info
	}
	require.NotEmpty(t, describe().NextRuns)
	for _, r := range describe().NextRuns {
		require.Equal(t, 3, r.UTC().Hour(), "before the edit: %v", r)
	}
	ts.req("POST", path+"/pause", ts.operate, nil).requireStatus(t, http.StatusOK)

	// Scope, unknown ids and bad fields.
	ts.req("PATCH", path, ts.operate, map[string]any{"name": "x"}).requireStatus(t, http.StatusForbidden)
	ts.req("PATCH", "/api/v1/schedules/"+newID(), ts.admin, map[string]any{"name": "x"}).requireStatus(t, http.StatusNotFound)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"spec": map[string]any{"cron": "at three"}}, "spec.cron"},
		{map[string]any{"spec": map[string]any{"every": "10s"}}, "spec.every"},
		{map[string]any{"spec": map[string]any{"every": "1h", "when": "now"}}, "spec"},
		{map[string]any{"overlap": "pile_up"}, "overlap"},
		{map[string]any{"action": map[string]any{"type": "reboot", "device_id": dev.ID}}, "action.type"},
		{map[string]any{"paused": true}, "paused"},
		// Five fields, but not a cron expression Temporal can parse: it refuses the update.
		{map[string]any{"spec": map[string]any{"cron": "99 99 * * *"}, "name": "renamed"}, "spec"},
	} {
		e := ts.req("PATCH", path, ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field, "body %v: %v", tc.body, e.Error.Fields)
	}
	stored, err := store.GetUserSchedule(context.Background(), ts.pool, uuid.MustParse(sch.ID))
	require.NoError(t, err)
	require.Equal(t, "nightly", stored.Name, "a refused update changed the store")
	require.Equal(t, "0 3 * * *", stored.Spec.Cron)
	for _, r := range describe().NextRuns {
		require.Equal(t, 3, r.UTC().Hour(), "a refused update changed Temporal: %v", r)
	}

	// An interval: the next runs move to the new spec, the paused state and the action stay.
	var got view
	ts.req("PATCH", path, ts.admin, map[string]any{"spec": map[string]any{"every": "7m"}, "overlap": "buffer_one"}).
		requireStatus(t, http.StatusOK).into(t, &got)
	require.Equal(t, "7m", got.Spec.Every)
	require.Equal(t, "buffer_one", got.Overlap)
	require.Equal(t, "web", got.Action.Container)
	require.True(t, got.Paused)
	info := describe()
	require.True(t, info.Paused, "the edit resumed a paused schedule")
	require.GreaterOrEqual(t, len(info.NextRuns), 2)
	require.Equal(t, 7*time.Minute, info.NextRuns[1].Sub(info.NextRuns[0]))

	// A cron in a time zone.
	ts.req("PATCH", path, ts.admin, map[string]any{"spec": map[string]any{"cron": "30 5 * * *", "time_zone": "Asia/Tokyo"}}).
		requireStatus(t, http.StatusOK).into(t, &got)
	info = describe()
	require.NotEmpty(t, info.NextRuns)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	for _, r := range info.NextRuns {
		require.Equal(t, "05:30", r.In(tokyo).Format("15:04"))
	}

	// The action and name: stored for ScheduledActionWorkflow to read at run time.
	ts.req("PATCH", path, ts.admin, map[string]any{"name": "weekly-prune",
		"action": map[string]any{"type": "image_prune", "tag": "nas"}}).requireStatus(t, http.StatusOK).into(t, &got)
	require.Equal(t, "weekly-prune", got.Name)
	stored, err = store.GetUserSchedule(context.Background(), ts.pool, uuid.MustParse(sch.ID))
	require.NoError(t, err)
	require.Equal(t, store.ScheduleAction{Type: store.ScheduleImagePrune, Tag: "nas", Concurrency: 1, StopOnFailure: true}, stored.Action)
	require.Equal(t, "30 5 * * *", stored.Spec.Cron)

	// A name taken by another schedule.
	ts.req("POST", "/api/v1/schedules", ts.admin, map[string]any{"name": "other", "spec": map[string]any{"every": "1h"},
		"paused": true, "action": map[string]any{"type": "image_prune", "device_id": dev.ID}}).
		requireStatus(t, http.StatusCreated).into(t, &got)
	t.Cleanup(func() { _ = wc.DeleteUserSchedule(context.Background(), got.ID) })
	ts.req("PATCH", path, ts.admin, map[string]any{"name": "other"}).requireStatus(t, http.StatusConflict)

	updates := 0
	for _, rec := range ts.auditRecords() {
		if rec.Target == sch.ID && rec.Action == "schedule.update" {
			updates++
		}
	}
	require.GreaterOrEqual(t, updates, 3)
}

// TestMaintenanceWindowUpdate edits a window and sees alert evaluation's inputs follow from the next run (#14).
func TestMaintenanceWindowUpdate(t *testing.T) {
	ts := newServer(t)
	dev := ts.createDevice("nas", map[string]any{"enabled": false, "tags": []string{"lab"}})
	devID := uuid.MustParse(dev.ID)
	now := time.Now().UTC()
	var w struct {
		ID        string     `json:"id"`
		Name      string     `json:"name"`
		DeviceID  *string    `json:"device_id"`
		Tag       string     `json:"tag"`
		StartsAt  *time.Time `json:"starts_at"`
		StartTime string     `json:"start_time"`
		Duration  string     `json:"duration"`
	}
	// A past one-off window on the device: not in maintenance.
	ts.req("POST", "/api/v1/maintenance-windows", ts.admin, map[string]any{"name": "upgrade", "device_id": dev.ID,
		"starts_at": now.Add(-3 * time.Hour), "ends_at": now.Add(-2 * time.Hour)}).requireStatus(t, http.StatusCreated).into(t, &w)
	inMaintenance := func() bool {
		t.Helper()
		in, err := store.LoadAlertInputs(context.Background(), ts.pool, devID, now.Add(-time.Hour), now)
		require.NoError(t, err)
		var ws []alert.Window
		for _, x := range in.Windows {
			ws = append(ws, x.Window())
		}
		return alert.InMaintenance(ws, dev.ID, in.Device.Tags, time.Now())
	}
	require.False(t, inMaintenance())
	path := "/api/v1/maintenance-windows/" + w.ID

	ts.req("PATCH", path, ts.operate, map[string]any{"name": "x"}).requireStatus(t, http.StatusForbidden)
	ts.req("PATCH", "/api/v1/maintenance-windows/"+newID(), ts.admin, map[string]any{"name": "x"}).requireStatus(t, http.StatusNotFound)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"ends_at": now.Add(-4 * time.Hour)}, "ends_at"},
		{map[string]any{"start_time": "1am", "duration": "1h"}, "start_time"},
		{map[string]any{"device_id": newID()}, "device_id"},
		{map[string]any{"device_id": nil}, "device_id"},
		{map[string]any{"time_zone": "Nowhere/Land"}, "time_zone"},
		{map[string]any{"starts_at": now, "start_time": "01:00"}, "starts_at"},
		{map[string]any{"colour": "red"}, "colour"},
	} {
		e := ts.req("PATCH", path, ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field, "body %v: %v", tc.body, e.Error.Fields)
	}

	// Made to cover now: the device is in maintenance from the next evaluation on.
	ts.req("PATCH", path, ts.admin, map[string]any{"ends_at": now.Add(time.Hour)}).requireStatus(t, http.StatusOK).into(t, &w)
	require.Equal(t, "upgrade", w.Name)
	require.True(t, inMaintenance())

	// Turned into a recurring window on a tag the device lacks: the one-off times and the device are cleared.
	w.DeviceID, w.StartsAt = nil, nil // absent fields are left out of the answer
	ts.req("PATCH", path, ts.admin, map[string]any{"tag": "other", "start_time": now.Add(-time.Minute).Format("15:04"),
		"duration": "2h"}).requireStatus(t, http.StatusOK).into(t, &w)
	stored, err := store.GetMaintenanceWindow(context.Background(), ts.pool, uuid.MustParse(w.ID))
	require.NoError(t, err)
	require.Nil(t, stored.DeviceID)
	require.Nil(t, stored.StartsAt)
	require.Nil(t, stored.EndsAt)
	require.Nil(t, w.DeviceID)
	require.Nil(t, w.StartsAt)
	require.Equal(t, "2h0m0s", w.Duration)
	require.False(t, inMaintenance())
	// Its tag: covered again.
	ts.req("PATCH", path, ts.admin, map[string]any{"tag": "lab", "name": "nightly"}).requireStatus(t, http.StatusOK).into(t, &w)
	require.Equal(t, "nightly", w.Name)
	require.True(t, inMaintenance())

	updates := 0
	for _, rec := range ts.auditRecords() {
		if rec.Target == w.ID && rec.Action == "maintenance_window.update" {
			updates++
		}
	}
	require.Equal(t, 3, updates)
}
