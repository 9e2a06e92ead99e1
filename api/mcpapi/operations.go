package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Bounds of container_action's wait: it returns the operation id to poll once the wait is over.
const (
	mcpDefaultActionWait = 30 * time.Second
	mcpMaxActionWait     = 120 * time.Second
	// mcpWaitSlice is how long one wait for the workflow lasts before the steps are re-read for progress.
	mcpWaitSlice = time.Second
)

func (e *mcpEndpoint) addOperationTools() {
	actions := append(append([]string{}, activities.ContainerActions...), activities.ActionUp, activities.ActionDown, activities.ActionPull)
	e.tool(mcp.NewTool("container_action",
		mcp.WithDescription("Run an action on a container (start, stop, restart, pause, unpause, kill, remove) or on a compose project (up, down, pull, restart) as a durable operation: checked, done, verified and recorded even if this connection drops. Waits up to wait_seconds while sending progress notifications, then returns the result, or the operation id to pass to get_operation. Only one operation per container runs at a time."),
		annotations("Container action", false, true, false, true),
		deviceArg,
		mcp.WithString("action", mcp.Required(), mcp.Description("What to do. up, down and pull need project; the others need container (restart works on either)."), mcp.Enum(actions...)),
		mcp.WithString("container", mcp.Description("Container name or ID (list_containers shows them). Give this or project.")),
		mcp.WithString("project", mcp.Description("Compose project name, for up, down, pull or restart of a whole project. Give this or container.")),
		mcp.WithInteger("timeout", mcp.Description("Seconds stop and restart wait for the container to exit before killing it (default 10)."), mcp.Min(0), mcp.Max(3600)),
		mcp.WithString("signal", mcp.Description(`Signal for kill, e.g. "TERM" or "9" (default KILL).`)),
		mcp.WithBoolean("force", mcp.Description("For remove: remove a running container too.")),
		mcp.WithBoolean("volumes", mcp.Description("For remove: also remove its anonymous volumes; for down: also remove the project's volumes.")),
		mcp.WithInteger("wait_seconds", mcp.Description("How long to wait for the result before returning the operation id."), mcp.DefaultNumber(int(mcpDefaultActionWait/time.Second)), mcp.Min(0), mcp.Max(int(mcpMaxActionWait/time.Second))),
	), deviceTool(e, e.containerAction))
	e.tool(mcp.NewTool("get_operation",
		mcp.WithDescription("One container operation: state (pending, running, succeeded, failed, cancelled), its steps, result or error."),
		annotations("Get operation", true, false, true, false),
		mcp.WithString("id", mcp.Required(), mcp.Description("Operation id, as container_action or list_operations returned it.")),
	), typedTool(e.getOperation))
	e.tool(mcp.NewTool("list_operations",
		mcp.WithDescription("Container operations, newest first, with their state and who started them."),
		annotations("List operations", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithString("state", mcp.Description("Only operations in this state."), mcp.Enum(store.OpPending, store.OpRunning, store.OpSucceeded, store.OpFailed, store.OpCancelled)),
		mcp.WithString("action", mcp.Description("Only this action."), mcp.Enum(actions...)),
		mcp.WithInteger("limit", mcp.Description("Most operations to return."), mcp.DefaultNumber(20), mcp.Min(1), mcp.Max(200)),
	), optionalDeviceTool(e, e.listOperations))
}

type containerActionArgs struct {
	deviceRef
	Action      string `json:"action"`
	Container   string `json:"container"`
	Project     string `json:"project"`
	Timeout     *int   `json:"timeout"`
	Signal      string `json:"signal"`
	Force       bool   `json:"force"`
	Volumes     bool   `json:"volumes"`
	WaitSeconds *int   `json:"wait_seconds"`
}

func (e *mcpEndpoint) containerAction(ctx context.Context, call *toolCall, d *store.Device, args *containerActionArgs) (*mcp.CallToolResult, error) {
	wait := mcpWait(args.WaitSeconds)
	if (args.Container == "") == (args.Project == "") {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "give exactly one of container (a container action) or project (a compose project action)")
	}
	call.audit.detail = map[string]any{"action": args.Action}
	if d.ReadOnly {
		call.audit.target = "device/" + d.ID.String()
		return nil, service.ReadOnlyDevice(d)
	}
	switch d.Status {
	case store.StatusOffline, store.StatusBlocked:
		call.audit.target = "device/" + d.ID.String()
		return nil, service.Errorf(http.StatusConflict, "device_unreachable", fmt.Sprintf("device %s is %s%s, so the action cannot run; get_device shows its state (an offline device is retried by its poll loop)", d.Name, d.Status, paren(d.StatusReason)))
	}
	req := service.ContainerActionRequest{Action: args.Action, Timeout: args.Timeout, Signal: args.Signal, Force: args.Force, Volumes: args.Volumes}
	var op *store.Operation
	var err error
	target := ""
	if args.Container != "" {
		call.audit.target = "device/" + d.ID.String() + "/container/" + args.Container
		// The inventory is as of the last poll; a container created since is found by polling first.
		if _, err := e.resolveContainer(ctx, d, args.Container); err != nil {
			var ae *service.Error
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				ae.Message += " (if it was created since, call poll_device_now first)"
			}
			return nil, err
		}
		target = "container " + args.Container
		op, err = e.s.StartContainerAction(ctx, mcpToken(ctx), d.ID, args.Container, req)
	} else {
		call.audit.target = "device/" + d.ID.String() + "/compose/" + args.Project
		if err := docker.ValidProject(args.Project); err != nil {
			return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "project must be a compose project name")
		}
		target = "compose project " + args.Project
		op, err = e.s.StartComposeAction(ctx, mcpToken(ctx), d.ID, args.Project, req)
	}
	if op != nil {
		call.audit.workflow = op.WorkflowID
	}
	if err != nil {
		var ae *service.Error
		if errors.As(err, &ae) && ae.Code == "operation_running" {
			ae.Message += ". Wait for it with get_operation, or retry later."
		}
		return nil, err
	}
	return e.followOperation(ctx, call, d, op, fmt.Sprintf("%s %s", args.Action, target), wait)
}

// runDeviceOperation starts a device operation (a scrub, a self-test, a service or VM action ...) for a tool
// and follows it like container_action: progress notifications until it ends or wait is over. The caller has
// set call.audit's target and detail.
func (e *mcpEndpoint) runDeviceOperation(ctx context.Context, call *toolCall, d *store.Device, in activities.DeviceOpInput, wait time.Duration) (*mcp.CallToolResult, error) {
	if call.audit.detail == nil {
		call.audit.detail = map[string]any{}
	}
	call.audit.detail["action"] = in.Action
	switch d.Status {
	case store.StatusOffline, store.StatusBlocked:
		return nil, service.Errorf(http.StatusConflict, "device_unreachable", fmt.Sprintf("device %s is %s%s, so the action cannot run; get_device shows its state", d.Name, d.Status, paren(d.StatusReason)))
	}
	op, err := e.s.StartDeviceOperation(ctx, mcpToken(ctx), d, in)
	if op != nil {
		call.audit.workflow = op.WorkflowID
	}
	if err != nil {
		var ae *service.Error
		if errors.As(err, &ae) && ae.Code == "operation_running" {
			ae.Message += ". Wait for it with get_operation, or retry later."
		}
		return nil, err
	}
	return e.followOperation(ctx, call, d, op, strings.TrimSpace(in.Action+" "+in.Kind+" "+in.Target), wait)
}

// mcpWait is a tool's wait_seconds argument as a duration within the bounds of action tools.
func mcpWait(seconds *int) time.Duration {
	if seconds == nil {
		return mcpDefaultActionWait
	}
	return min(max(time.Duration(*seconds)*time.Second, 0), mcpMaxActionWait)
}

// followOperation reports a started operation's steps as progress notifications (each new state or detail of a
// step, such as a scrub's percentage) until it ends or wait is over, then answers with its state.
func (e *mcpEndpoint) followOperation(ctx context.Context, call *toolCall, d *store.Device, op *store.Operation, what string, wait time.Duration) (*mcp.CallToolResult, error) {
	call.audit.detail["operation_id"] = op.ID.String()
	e.progress(ctx, call, 0, 4, fmt.Sprintf("operation %s started: %s on %s", op.ID, what, d.Name))

	deadline := time.Now().Add(wait)
	reported := map[string]string{}
	for !store.OpFinal(op.State) && time.Now().Before(deadline) {
		slice := min(mcpWaitSlice, time.Until(deadline))
		next, err := e.s.WaitOperation(ctx, op.ID, slice)
		if err != nil {
			if ctx.Err() != nil {
				// The client went away; the operation carries on and is recorded.
				return nil, ctx.Err()
			}
			return nil, err
		}
		op = next
		finished := 0
		for _, st := range op.Steps {
			if st.State != store.StepRunning {
				finished++
			}
			msg := st.Name + " " + st.State
			if st.Detail != "" {
				msg += ": " + st.Detail
			}
			if reported[st.Name] != msg {
				reported[st.Name] = msg
				e.progress(ctx, call, float64(finished), 4, msg)
			}
		}
	}
	res := e.operationResult(op, d.Name)
	if op.State == store.OpFailed || op.State == store.OpCancelled {
		res.IsError = true
		call.audit.failed = true
	}
	return res, nil
}

// operationResult describes an operation for the model, with what to do next.
func (e *mcpEndpoint) operationResult(op *store.Operation, device string) *mcp.CallToolResult {
	what := fmt.Sprintf("%s of %s on %s", op.Action, op.Target, device)
	lines := []string{}
	switch op.State {
	case store.OpSucceeded:
		took := ""
		if op.StartedAt != nil && op.FinishedAt != nil {
			took = " in " + op.FinishedAt.Sub(*op.StartedAt).Round(100*time.Millisecond).String()
		}
		lines = append(lines, fmt.Sprintf("Operation %s: %s succeeded%s.", op.ID, what, took))
	case store.OpFailed:
		hint := " get_container and get_container_logs may tell why."
		if op.Kind != store.OpKindContainer && op.Kind != store.OpKindCompose {
			hint = ""
		}
		lines = append(lines, fmt.Sprintf("Operation %s: %s failed: %s.%s", op.ID, what, op.Error, hint))
	case store.OpCancelled:
		lines = append(lines, fmt.Sprintf("Operation %s: %s was cancelled.", op.ID, what))
	default:
		lines = append(lines, fmt.Sprintf("Operation %s: %s is still %s; it carries on durably. Call get_operation with id %s to follow it.", op.ID, what, op.State, op.ID))
	}
	for _, st := range op.Steps {
		l := fmt.Sprintf("- step %s: %s", st.Name, st.State)
		if st.Attempt > 1 {
			l += fmt.Sprintf(" (attempt %d)", st.Attempt)
		}
		if st.Detail != "" {
			l += ": " + st.Detail
		}
		lines = append(lines, l)
	}
	if len(op.Result) > 0 {
		lines = append(lines, "Result: "+string(op.Result))
	}
	return textResult(e.s.View(op), lines...)
}

type getOperationArgs struct {
	ID string `json:"id"`
}

func (e *mcpEndpoint) getOperation(ctx context.Context, _ *toolCall, args *getOperationArgs) (*mcp.CallToolResult, error) {
	op, err := e.loadOperation(ctx, args.ID)
	if err != nil {
		return nil, err
	}
	name := op.DeviceID.String()
	if d, err := store.GetDevice(ctx, e.s.Pool, op.DeviceID); err == nil {
		name = d.Name
	}
	return e.operationResult(op, name), nil
}

func (e *mcpEndpoint) loadOperation(ctx context.Context, ref string) (*store.Operation, error) {
	id, err := uuid.Parse(strings.TrimSpace(ref))
	if err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "id must be an operation id (a UUID); list_operations shows them")
	}
	op, err := store.GetOperation(ctx, e.s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.Errorf(http.StatusNotFound, "not_found", "no operation "+id.String()+"; list_operations shows the recent ones")
	}
	return op, err
}

type listOperationsArgs struct {
	deviceRef
	State  string `json:"state"`
	Action string `json:"action"`
	limitArg
}

func (e *mcpEndpoint) listOperations(ctx context.Context, call *toolCall, d *store.Device, args *listOperationsArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("state", args.State); err != nil {
		return nil, err
	}
	f := store.OperationFilter{State: args.State, Action: args.Action, Limit: args.Limit}
	names := map[uuid.UUID]string{}
	if d != nil {
		f.DeviceID = &d.ID
		names[d.ID] = d.Name
	} else {
		devs, _, err := store.ListDevices(ctx, e.s.Pool, store.DeviceFilter{})
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			names[d.ID] = d.Name
		}
	}
	ops, next, err := store.ListOperations(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	views := make([]service.OperationView, 0, len(ops))
	lines := []string{fmt.Sprintf("%d operations, newest first:", len(ops))}
	for _, o := range ops {
		views = append(views, e.s.View(o))
		by := o.TokenName
		if by == "" {
			by = "unknown"
		}
		l := fmt.Sprintf("- %s %s: %s of %s on %s, %s (by %s)", o.ID, o.CreatedAt.UTC().Format(time.RFC3339), o.Action, o.Target, names[o.DeviceID], o.State, by)
		if o.Error != "" {
			l += ": " + o.Error
		}
		lines = append(lines, l)
	}
	if next != "" {
		lines = append(lines, "Older operations exist: raise limit or filter.")
	}
	return textResult(map[string]any{"count": len(views), "operations": views, "more": next != ""}, lines...), nil
}
