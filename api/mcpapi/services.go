package mcpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// addServiceTools registers list_services, service_action and get_top_processes (#12).
func (e *mcpEndpoint) addServiceTools() {
	e.tool(mcp.NewTool("list_services",
		mcp.WithDescription("A device's systemd units as of the last inventory collection: failed units first, then the watched units (named per device or tag) with active/sub state, since when, automatic restarts, main PID and memory, each with a verdict (ok, warning, critical) and the reason. Says so when the device has no systemd."),
		annotations("List services", true, false, true, false),
		deviceArg,
	), deviceTool(e, e.listServices))
	e.tool(mcp.NewTool("service_action",
		mcp.WithDescription("Start, stop, restart or reload a systemd unit on a device as a durable operation: the unit is checked (it must exist; start on an active or stop on an inactive or failed unit does nothing), systemctl acts (through sudo -n when the device's use_sudo is set), the new state is verified and recorded even if this connection drops. Waits up to wait_seconds while sending progress notifications, then returns the result, or the operation id to pass to get_operation. One operation per unit at a time."),
		annotations("Service action", false, true, false, true),
		deviceArg,
		mcp.WithString("unit", mcp.Required(), mcp.Description(`The unit, e.g. "nginx" or "nginx.service" (list_services shows them).`)),
		mcp.WithString("action", mcp.Required(), mcp.Description("What to do."), mcp.Enum(string(systemd.Start), string(systemd.Stop), string(systemd.Restart), string(systemd.Reload))),
		mcp.WithInteger("timeout", mcp.Description("Seconds to wait for the unit to settle in its new state (default 90)."), mcp.Min(1), mcp.Max(600)),
		mcp.WithInteger("wait_seconds", mcp.Description("How long to wait for the result before returning the operation id."), mcp.DefaultNumber(int(mcpDefaultActionWait/time.Second)), mcp.Min(0), mcp.Max(int(mcpMaxActionWait/time.Second))),
	), deviceTool(e, e.serviceAction))
	e.tool(mcp.NewTool("get_top_processes",
		mcp.WithDescription("The processes using the most CPU or memory on a device, read from it now: PID, user, command (arguments shortened, password-like values masked), CPU %, resident memory, state and start time."),
		annotations("Get top processes", true, false, true, true),
		deviceArg,
		mcp.WithString("sort", mcp.Description("Order by CPU or by resident memory."), mcp.Enum(string(process.ByCPU), string(process.ByMemory)), mcp.DefaultString(string(process.ByCPU))),
		mcp.WithInteger("limit", mcp.Description("How many processes."), mcp.DefaultNumber(process.DefaultLimit), mcp.Min(1), mcp.Max(process.MaxLimit)),
	), deviceTool(e, e.getTopProcesses))
}

func (e *mcpEndpoint) listServices(ctx context.Context, _ *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
	v, err := e.s.ServicesOf(ctx, d)
	if err != nil {
		return nil, err
	}
	var lines []string
	switch {
	case v.Systemd == nil:
		lines = append(lines, fmt.Sprintf("No services collection on %s yet (it runs every inventory_interval after a good poll; poll_device_now starts one).", d.Name))
	case !v.Systemd.Available:
		lines = append(lines, fmt.Sprintf("%s does not run systemd (as of %s): there are no units to show.", d.Name, v.Systemd.CollectedAt.Format(time.RFC3339)))
	default:
		lines = append(lines, fmt.Sprintf("%s: %d failed units, %d watched (as of %s).", d.Name, v.Systemd.FailedCount,
			len(v.WatchedUnits), v.Systemd.CollectedAt.Format(time.RFC3339)))
	}
	for _, s := range v.Items {
		line := fmt.Sprintf("- [%s] %s: %s/%s", s.Level, s.Unit, s.ActiveState, s.SubState)
		if s.Watched {
			line += " (watched)"
		}
		if s.ActiveSince != nil {
			line += " since " + s.ActiveSince.Format(time.RFC3339)
		}
		if s.NRestarts != nil && *s.NRestarts > 0 {
			line += fmt.Sprintf(", %d restarts", *s.NRestarts)
		}
		if s.MainPID > 0 {
			line += fmt.Sprintf(", pid %d", s.MainPID)
		}
		if s.MemoryBytes != nil {
			line += ", memory " + humanBytes(*s.MemoryBytes)
		}
		lines = append(lines, line+" — "+s.Reason)
	}
	if v.Systemd != nil && v.Systemd.Available && len(v.Items) == 0 {
		lines = append(lines, "No failed units and no watched units.")
	}
	return textResult(v, lines...), nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n), []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for f >= unit && i < len(suffix)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, suffix[i])
}

type serviceActionArgs struct {
	deviceRef
	Unit        string `json:"unit"`
	Action      string `json:"action"`
	Timeout     *int   `json:"timeout"`
	WaitSeconds *int   `json:"wait_seconds"`
}

func (e *mcpEndpoint) serviceAction(ctx context.Context, call *toolCall, d *store.Device, args *serviceActionArgs) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String()
	if err := call.oneOf("action", args.Action); err != nil {
		return nil, err
	}
	unit, err := systemd.NormalizeUnit("unit", args.Unit)
	if err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "unit must be a systemd unit name such as nginx or nginx.service: "+err.Error())
	}
	call.audit.target = "device/" + d.ID.String() + "/service/" + unit
	wait := mcpDefaultActionWait
	if args.WaitSeconds != nil {
		wait = min(max(time.Duration(*args.WaitSeconds)*time.Second, 0), mcpMaxActionWait)
	}
	in := activities.DeviceOpInput{Kind: activities.OpKindService, Target: unit, Action: args.Action}
	if args.Timeout != nil {
		in.Params = map[string]string{"timeout": fmt.Sprint(*args.Timeout)}
	}
	return e.runDeviceOperation(ctx, call, d, in, wait)
}

type getTopProcessesArgs struct {
	deviceRef
	Sort string `json:"sort"`
	limitArg
}

func (e *mcpEndpoint) getTopProcesses(ctx context.Context, call *toolCall, d *store.Device, args *getTopProcessesArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("sort", args.Sort); err != nil {
		return nil, err
	}
	srt, err := process.ParseSort(args.Sort)
	if err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "sort must be cpu or memory")
	}
	l, err := e.s.FetchProcesses(ctx, d, srt, args.Limit)
	if err != nil {
		return nil, err
	}
	items := l.ByCPU
	if srt == process.ByMemory {
		items = l.ByMemory
	}
	if items == nil {
		items = []process.Process{}
	}
	remote, _ := ctx.Value(mcpRemoteKey).(string)
	e.s.AuditRead(mcpToken(ctx), remote, service.AuditReadProcesses, "device/"+d.ID.String()+"/processes",
		map[string]any{"interface": "mcp", "sort": srt, "limit": args.Limit, "processes": len(items)})
	lines := []string{fmt.Sprintf("Top %d processes by %s on %s (read from %s):", len(items), srt, d.Name, l.Source)}
	for _, p := range items {
		args, _ := safetext.String(p.Args, 120, false)
		lines = append(lines, fmt.Sprintf("- pid %d %s [%s] cpu %.1f%% rss %s state %s: %s", p.PID, p.User, p.Command,
			p.CPUPercent, humanBytes(int64(p.RSSBytes)), p.State, strings.TrimSpace(args)))
	}
	return textResult(map[string]any{"device_id": d.ID, "sort": srt, "source": l.Source, "processes": items,
		"truncated": l.Truncated}, lines...), nil
}
