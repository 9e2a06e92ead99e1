package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/workflows"
)

func TestSchedules(t *testing.T) {
	ts := newServer(t)
	dev := ts.createDevice("nas", map[string]any{"enabled": false})
	ok := map[string]any{"name": "nightly", "spec": map[string]any{"cron": "0 3 * * *", "time_zone": "Europe/Berlin"},
		"action": map[string]any{"type": "container", "device_id": dev.ID, "container": "web", "action": "restart"}}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "spec": map[string]any{}, "action": ok["action"]}, "spec"},
		{map[string]any{"name": "x", "spec": map[string]any{"cron": "0 3 * * *", "every": "1h"}, "action": ok["action"]}, "spec"},
		{map[string]any{"name": "x", "spec": map[string]any{"cron": "at three"}, "action": ok["action"]}, "spec.cron"},
		{map[string]any{"name": "x", "spec": map[string]any{"every": "10s"}, "action": ok["action"]}, "spec.every"},
		{map[string]any{"name": "x", "spec": map[string]any{"every": "1h", "offset": "2h"}, "action": ok["action"]}, "spec.offset"},
		{map[string]any{"name": "x", "spec": map[string]any{"every": "1h", "time_zone": "Mars/Base"}, "action": ok["action"]}, "spec.time_zone"},
		{map[string]any{"name": "x", "spec": map[string]any{"every": "1h", "when": "now"}, "action": ok["action"]}, "spec"},
		{map[string]any{"name": "x", "spec": ok["spec"], "overlap": "pile_up", "action": ok["action"]}, "overlap"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "reboot", "device_id": dev.ID}}, "action.type"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "image_prune"}}, "action.device_id"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "image_prune", "device_id": dev.ID, "tag": "a"}}, "action.device_id"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "image_prune", "device_id": newID()}}, "action.device_id"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "container", "tag": "a", "container": "web;reboot", "action": "restart"}}, "action.container"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "container", "tag": "a", "container": "web", "action": "explode"}}, "action.action"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "compose_update", "tag": "a", "project": "Bad Name"}}, "action.project"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "image_prune", "tag": "a", "concurrency": 500}}, "action.concurrency"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "compose_update", "tag": "a"}}, "action.project"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "compose_update", "tag": "a", "project": "Bad Name",
			"only_with_updates": true}}, "action.project"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "container", "tag": "a", "container": "web",
			"action": "restart", "only_with_updates": true}}, "action.only_with_updates"},
		{map[string]any{"name": "x", "spec": ok["spec"], "action": map[string]any{"type": "compose_update", "tag": "a",
			"only_with_updates": "yes"}}, "action"},
	} {
		e := ts.req("POST", "/api/v1/schedules", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field, "body %v: %v", tc.body, e.Error.Fields)
	}

	ts.req("POST", "/api/v1/schedules", ts.operate, ok).requireStatus(t, http.StatusForbidden)
	var sch struct {
		ID      string `json:"id"`
		Overlap string `json:"overlap"`
		Action  struct {
			StopOnFailure bool `json:"stop_on_failure"`
			Concurrency   int  `json:"concurrency"`
		} `json:"action"`
		Temporal *struct {
			Paused   bool     `json:"paused"`
			NextRuns []string `json:"next_runs"`
		} `json:"temporal"`
		TemporalUI string `json:"temporal_ui"`
	}
	ts.req("POST", "/api/v1/schedules", ts.admin, ok).requireStatus(t, http.StatusCreated).into(t, &sch)
	t.Cleanup(func() { _ = (&workflows.Client{Client: ts.tc}).DeleteUserSchedule(context.Background(), sch.ID) })
	require.Equal(t, "skip", sch.Overlap)
	require.True(t, sch.Action.StopOnFailure)
	require.Equal(t, 1, sch.Action.Concurrency)
	require.NotNil(t, sch.Temporal)
	require.NotEmpty(t, sch.Temporal.NextRuns)
	require.Contains(t, sch.TemporalUI, "/schedules/user-schedule%2F"+sch.ID)
	ts.req("POST", "/api/v1/schedules", ts.admin, ok).requireStatus(t, http.StatusConflict)

	path := "/api/v1/schedules/" + sch.ID
	ts.req("POST", path+"/pause", ts.read, nil).requireStatus(t, http.StatusForbidden)
	ts.req("POST", path+"/pause", ts.operate, nil).requireStatus(t, http.StatusOK).into(t, &sch)
	require.True(t, sch.Temporal.Paused)
	ts.req("POST", path+"/resume", ts.operate, nil).requireStatus(t, http.StatusOK).into(t, &sch)
	require.False(t, sch.Temporal.Paused)
	ts.req("POST", path+"/trigger", ts.operate, nil).requireStatus(t, http.StatusAccepted)
	ts.req("GET", path+"/runs", ts.read, nil).requireStatus(t, http.StatusOK)
	ts.req("DELETE", path, ts.operate, nil).requireStatus(t, http.StatusForbidden)
	ts.req("DELETE", path, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	ts.req("GET", path, ts.read, nil).requireStatus(t, http.StatusNotFound)
	ts.req("POST", path+"/trigger", ts.operate, nil).requireStatus(t, http.StatusNotFound)

	actions := map[string]int{}
	for _, rec := range ts.auditRecords() {
		if rec.Target == sch.ID {
			actions[rec.Action]++
		}
	}
	require.Equal(t, map[string]int{"schedule.create": 1, "schedule.pause": 1, "schedule.resume": 1, "schedule.trigger": 1,
		"schedule.delete": 1}, actions)
}
