package integration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type scheduleView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Paused   bool   `json:"paused"`
	Temporal *struct {
		Paused   bool        `json:"paused"`
		NextRuns []time.Time `json:"next_runs"`
	} `json:"temporal"`
	Runs []scheduleRun `json:"runs"`
}

type scheduleRun struct {
	WorkflowID string `json:"workflow_id"`
	State      string `json:"state"`
	Error      string `json:"error"`
	Result     []struct {
		DeviceName  string
		Project     string
		OperationID string
		State       string
		Summary     string
		Error       string
	} `json:"result"`
}

func (s *stack) scheduleRuns(id string) []scheduleRun {
	s.t.Helper()
	var out struct {
		Items []scheduleRun `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", "/api/v1/schedules/"+id+"/runs", nil, &out))
	return out.Items
}

// TestUserScheduleRestartsContainer: a schedule every minute restarts a real container at its time through a
// ContainerOperation; trigger, pause and resume work; a tag-wide image prune runs as a fleet operation; a run
// on a missing container fails and says so.
func TestUserScheduleRestartsContainer(t *testing.T) {
	s, dev, _ := newDockerDevice(t, true)
	s.onlyRules() // alerts are not under test here
	name := dev.container(t, "nightly", true, loop)
	before := dev.inspect(t, name)

	var sch scheduleView
	code := s.do("POST", "/api/v1/schedules", map[string]any{"name": "restart-web", "spec": map[string]any{"every": "1m"},
		"action": map[string]any{"type": "container", "device_id": dev.id.String(), "container": name, "action": "restart", "timeout": 1}}, nil)
	require.Equal(t, 422, code, "unknown action fields are refused")
	code = s.do("POST", "/api/v1/schedules", map[string]any{"name": "restart-web", "spec": map[string]any{"every": "1m", "time_zone": "Europe/Berlin"},
		"action": map[string]any{"type": "container", "device_id": dev.id.String(), "container": name, "action": "restart"}}, &sch)
	require.Equal(t, 201, code)
	require.NotNil(t, sch.Temporal)
	require.NotEmpty(t, sch.Temporal.NextRuns)
	next := sch.Temporal.NextRuns[0]
	require.WithinDuration(t, time.Now(), next, 61*time.Second)

	// At its time the schedule restarts the container, once.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs := s.scheduleRuns(sch.ID)
		if assert.NotEmpty(c, runs) {
			assert.Equal(c, "succeeded", runs[len(runs)-1].State)
		}
	}, 2*time.Minute, time.Second, "the scheduled run finishes")
	after := dev.inspect(t, name)
	require.Equal(t, "running", after.State)
	require.True(t, after.StartedAt.After(before.StartedAt), "restarted: %v -> %v", before.StartedAt, after.StartedAt)
	require.False(t, after.StartedAt.Before(next.Add(-time.Second)), "restarted at its time, not before")
	runs := s.scheduleRuns(sch.ID)
	first := runs[len(runs)-1]
	require.Len(t, first.Result, 1)
	require.Equal(t, "succeeded", first.Result[0].State)
	var op struct {
		State  string `json:"state"`
		Action string `json:"action"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/operations/"+first.Result[0].OperationID, nil, &op))
	require.Equal(t, "succeeded", op.State)
	require.Equal(t, "restart", op.Action)

	// Pause: Temporal reports it; resume.
	require.Equal(t, 200, s.do("POST", "/api/v1/schedules/"+sch.ID+"/pause", nil, &sch))
	require.True(t, sch.Paused)
	require.True(t, sch.Temporal.Paused)
	require.Equal(t, 200, s.do("POST", "/api/v1/schedules/"+sch.ID+"/resume", nil, &sch))
	require.False(t, sch.Temporal.Paused)
	require.Equal(t, 204, s.do("DELETE", "/api/v1/schedules/"+sch.ID, nil, nil))
	require.Equal(t, 404, s.do("GET", "/api/v1/schedules/"+sch.ID, nil, nil))

	// A fleet image prune across a tag, triggered now.
	require.Equal(t, 200, s.do("PATCH", "/api/v1/devices/"+dev.id.String(), map[string]any{"tags": []string{"docker-hosts"}}, nil))
	var prune scheduleView
	require.Equal(t, 201, s.do("POST", "/api/v1/schedules", map[string]any{"name": "prune", "spec": map[string]any{"cron": "0 4 * * 0"},
		"action": map[string]any{"type": "image_prune", "tag": "docker-hosts", "concurrency": 4}}, &prune))
	require.Equal(t, 202, s.do("POST", "/api/v1/schedules/"+prune.ID+"/trigger", nil, nil))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs := s.scheduleRuns(prune.ID)
		if assert.Len(c, runs, 1) && assert.Equal(c, "succeeded", runs[0].State) {
			assert.Len(c, runs[0].Result, 1)
			assert.Contains(c, runs[0].Result[0].Summary, "reclaimed")
		}
	}, time.Minute, 500*time.Millisecond, "the prune run finishes")

	// A run on a container that does not exist fails, and the run says why.
	var bad scheduleView
	require.Equal(t, 201, s.do("POST", "/api/v1/schedules", map[string]any{"name": "restart-missing", "spec": map[string]any{"cron": "0 4 * * *"},
		"action": map[string]any{"type": "container", "tag": "docker-hosts", "container": "no-such-container", "action": "restart"}}, &bad))
	require.Equal(t, 202, s.do("POST", "/api/v1/schedules/"+bad.ID+"/trigger", nil, nil))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs := s.scheduleRuns(bad.ID)
		if assert.Len(c, runs, 1) && assert.Equal(c, "failed", runs[0].State) && assert.Len(c, runs[0].Result, 1) {
			assert.Equal(c, "failed", runs[0].Result[0].State)
			assert.NotEmpty(c, runs[0].Result[0].Error)
		}
	}, time.Minute, 500*time.Millisecond, "the failed run is recorded")

	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/schedules", nil, &list))
	require.Len(t, list.Items, 2)
}
