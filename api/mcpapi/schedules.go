package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// mcpAdminTools need the admin scope, like their REST routes; other write tools need operate.
var mcpAdminTools = map[string]bool{"create_schedule": true, "update_schedule": true}

// addScheduleTools registers the user-schedule tools: list (read), trigger (operate), create (admin).
func (e *mcpEndpoint) addScheduleTools() {
	e.tool(mcp.NewTool("list_schedules",
		mcp.WithDescription("List the user schedules (maintenance such as nightly container restarts, weekly compose updates, image prunes) with their spec, action, whether paused, and their last runs."),
		annotations("List schedules", true, false, true, false),
	), e.listSchedules)
	e.tool(mcp.NewTool("trigger_schedule",
		mcp.WithDescription("Run a user schedule's action now, once, as the schedule would (the run shows in its history and in the Temporal UI)."),
		annotations("Trigger schedule", false, true, false, true),
		mcp.WithString("schedule", mcp.Required(), mcp.Description("Schedule name or id (list_schedules shows both).")),
	), typedTool(e.triggerSchedule))
	e.tool(mcp.NewTool("create_schedule",
		mcp.WithDescription("Create a user schedule (admin scope). spec: {\"cron\":\"0 3 * * *\",\"time_zone\":\"Europe/Berlin\"} or {\"every\":\"24h\"}. "+
			"action: {\"type\":\"container\",\"device_id\":\"<id>\",\"container\":\"web\",\"action\":\"restart\"}, "+
			"{\"type\":\"compose_update\",\"device_id\":\"<id>\",\"project\":\"media\"}, "+
			"{\"type\":\"compose_update\",\"tag\":\"home\",\"only_with_updates\":true} (pull and recreate only the compose projects whose images have updates at run time; the others are skipped), "+
			"{\"type\":\"image_prune\",\"tag\":\"home\",\"concurrency\":2}, or {\"type\":\"zfs_scrub\",\"tag\":\"nas\",\"pool\":\"*\"} (every pool, one at a time); "+
			"a tag instead of device_id runs it across every device with the tag, stopping at the first failure."),
		annotations("Create schedule", false, false, false, true),
		mcp.WithString("name", mcp.Required(), mcp.Description("Unique schedule name.")),
		mcp.WithObject("spec", mcp.Required(), mcp.Description("When: cron or every, optional time_zone and offset.")),
		mcp.WithObject("action", mcp.Required(), mcp.Description("What: type, device_id or tag, container/action or project, only_with_updates, concurrency, stop_on_failure.")),
		mcp.WithString("overlap", mcp.Description("What to do when a run is still going at the next time: skip (default), buffer_one, allow_all, cancel_other, terminate_other.")),
	), typedTool(e.createSchedule))
	e.tool(mcp.NewTool("update_schedule",
		mcp.WithDescription("Edit a user schedule (admin scope): give only what changes. spec and action are each replaced whole, "+
			"in the shapes create_schedule takes; a spec Temporal refuses changes nothing. Pausing is done in the dashboard or REST."),
		annotations("Update schedule", false, false, true, true),
		mcp.WithString("schedule", mcp.Required(), mcp.Description("Schedule name or id (list_schedules shows both).")),
		mcp.WithString("name", mcp.Description("New unique name.")),
		mcp.WithObject("spec", mcp.Description("New when: cron or every, optional time_zone and offset.")),
		mcp.WithObject("action", mcp.Description("New what, as for create_schedule.")),
		mcp.WithString("overlap", mcp.Description("skip, buffer_one, allow_all, cancel_other or terminate_other.")),
	), typedTool(e.updateSchedule))
}

func (e *mcpEndpoint) listSchedules(ctx context.Context, _ *toolCall) (*mcp.CallToolResult, error) {
	all, err := e.s.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	lines := []string{fmt.Sprintf("%d schedule(s)", len(all))}
	for _, sc := range all {
		when := sc.Spec.Cron
		if when == "" {
			when = "every " + sc.Spec.Every
		}
		if sc.Spec.TimeZone != "" {
			when += " (" + sc.Spec.TimeZone + ")"
		}
		target := sc.Action.DeviceID
		if sc.Action.Tag != "" {
			target = "tag " + sc.Action.Tag
		}
		state := "active"
		if sc.Paused {
			state = "paused"
		}
		what := sc.Action.Action + sc.Action.Project
		if sc.Action.OnlyWithUpdates {
			what += " (only projects with image updates)"
		}
		lines = append(lines, fmt.Sprintf("- %s [%s] id %s: %s %s on %s, %s", sc.Name, state, sc.ID, sc.Action.Type,
			what, target, when))
	}
	return textResult(map[string]any{"schedules": all}, lines...), nil
}

// resolveSchedule finds a schedule by id or name.
func (e *mcpEndpoint) resolveSchedule(ctx context.Context, ref string) (*store.UserSchedule, error) {
	ref = strings.TrimSpace(ref)
	if id, err := uuid.Parse(ref); err == nil {
		sc, err := store.GetUserSchedule(ctx, e.s.Pool, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, service.Errorf(http.StatusNotFound, "not_found", "no schedule with id "+ref+"; list_schedules shows them")
		}
		return sc, err
	}
	all, err := store.ListUserSchedules(ctx, e.s.Pool)
	if err != nil {
		return nil, err
	}
	for _, sc := range all {
		if strings.EqualFold(sc.Name, ref) {
			return sc, nil
		}
	}
	return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no schedule named %q; list_schedules shows them", ref))
}

type triggerScheduleArgs struct {
	Schedule string `json:"schedule"`
}

func (e *mcpEndpoint) triggerSchedule(ctx context.Context, call *toolCall, args *triggerScheduleArgs) (*mcp.CallToolResult, error) {
	sc, err := e.resolveSchedule(ctx, args.Schedule)
	if err != nil {
		return nil, err
	}
	call.audit.target = "schedule/" + sc.ID.String()
	if err := e.s.TriggerSchedule(ctx, sc.ID); err != nil {
		return nil, err
	}
	return textResult(map[string]any{"schedule_id": sc.ID, "triggered": true},
		fmt.Sprintf("Triggered schedule %s; list_schedules shows the run once it finishes.", sc.Name)), nil
}

func (e *mcpEndpoint) createSchedule(ctx context.Context, call *toolCall, req *service.ScheduleRequest) (*mcp.CallToolResult, error) {
	// As over REST, a fleet run stops at the first failure unless told otherwise.
	if action, ok := call.req.GetArguments()["action"].(map[string]any); ok {
		if _, given := action["stop_on_failure"]; !given {
			req.Action.StopOnFailure = true
		}
	}
	if req.Action.Tag == "" && req.Action.DeviceID != "" {
		// Models name devices; the schedule stores the id.
		d, err := e.resolveDevice(ctx, req.Action.DeviceID)
		if err != nil {
			return nil, err
		}
		req.Action.DeviceID = d.ID.String()
	}
	view, err := e.s.CreateSchedule(ctx, *req)
	if err != nil {
		return nil, err
	}
	call.audit.target = "schedule/" + view.ID.String()
	return textResult(view, fmt.Sprintf("Created schedule %s (id %s); the Temporal UI shows it at %s.", view.Name, view.ID, view.TemporalUI)), nil
}

type updateScheduleArgs struct {
	Schedule string                `json:"schedule"`
	Name     *string               `json:"name"`
	Spec     *store.ScheduleSpec   `json:"spec"`
	Action   *store.ScheduleAction `json:"action"`
	Overlap  *string               `json:"overlap"`
}

func (e *mcpEndpoint) updateSchedule(ctx context.Context, call *toolCall, args *updateScheduleArgs) (*mcp.CallToolResult, error) {
	sc, err := e.resolveSchedule(ctx, args.Schedule)
	if err != nil {
		return nil, err
	}
	call.audit.target = "schedule/" + sc.ID.String()
	if a := args.Action; a != nil {
		// As on create: a fleet run stops at the first failure unless told otherwise, and models name devices.
		if action, ok := call.req.GetArguments()["action"].(map[string]any); ok {
			if _, given := action["stop_on_failure"]; !given {
				a.StopOnFailure = true
			}
		}
		if a.Tag == "" && a.DeviceID != "" {
			d, err := e.resolveDevice(ctx, a.DeviceID)
			if err != nil {
				return nil, err
			}
			a.DeviceID = d.ID.String()
		}
	}
	view, err := e.s.UpdateSchedule(ctx, sc.ID, service.ScheduleUpdate{Name: args.Name, Spec: args.Spec, Action: args.Action,
		Overlap: args.Overlap})
	if err != nil {
		return nil, err
	}
	return textResult(view, fmt.Sprintf("Updated schedule %s (id %s).", view.Name, view.ID)), nil
}
