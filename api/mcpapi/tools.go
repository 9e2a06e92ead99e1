package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// Bounds of what one tool call returns, so an answer fits comfortably in a model's context.
const (
	mcpMaxList        = 500
	mcpDefaultList    = 100
	mcpMaxLogLines    = 2000
	mcpDefaultLogTail = 100
	mcpDefaultLogCap  = 16 << 10
	mcpMaxLogCap      = 256 << 10
	mcpMaxSeries      = 50
	mcpMetricBuckets  = 60
)

var deviceArg = mcp.WithString("device", mcp.Required(), mcp.Description("Device name or id (list_devices shows both)."))

func (e *mcpEndpoint) addTools() {
	e.tool(mcp.NewTool("list_devices",
		mcp.WithDescription("List the managed devices with status (online, offline, blocked, unknown), host, last contact and tags."),
		annotations("List devices", true, false, true, false),
		mcp.WithString("status", mcp.Description("Only devices with this status."), mcp.Enum(store.StatusOnline, store.StatusOffline, store.StatusBlocked, store.StatusUnknown)),
		mcp.WithString("tag", mcp.Description("Only devices carrying this tag.")),
		mcp.WithString("query", mcp.Description("Text matched against name, host and description.")),
		mcp.WithInteger("limit", mcp.Description("Most devices to return."), mcp.DefaultNumber(mcpDefaultList), mcp.Min(1), mcp.Max(mcpMaxList)),
	), typedTool(e.listDevices))
	e.tool(mcp.NewTool("get_device",
		mcp.WithDescription("One device in detail: status and reason, poll loop state, detected capabilities (OS, kernel, CPU, memory, docker...), latest key metrics and container counts."),
		annotations("Get device", true, false, true, false),
		deviceArg,
	), deviceTool(e, e.getDevice))
	e.tool(mcp.NewTool("get_metrics",
		mcp.WithDescription("A device's metric over a time window, summarised per series (min, avg, max, last value and trend) instead of raw points. The resource infra://schema/metrics lists the values and units of every metric."),
		annotations("Get metrics", true, false, true, false),
		deviceArg,
		mcp.WithString("metric", mcp.Required(), mcp.Description("Which metric."), mcp.Enum(store.MetricNames()...)),
		mcp.WithString("window", mcp.Description(`How far back from now, e.g. "15m", "6h", "7d" (at most 400d).`), mcp.DefaultString("1h")),
		mcp.WithString("label", mcp.Description(`Only series with this label: a mountpoint ("/"), interface ("eth0"), disk ("sda"), sensor or container name.`)),
		mcp.WithString("value", mcp.Description(`Only this value of the metric, e.g. "used_percent".`)),
	), deviceTool(e, e.getMetrics))
	e.tool(mcp.NewTool("fleet_health",
		mcp.WithDescription("Score every device 0-100 with the reasons: offline or blocked, CPU, memory, disk or temperature over thresholds, unhealthy or restarting containers. Worst first. Start here to find what needs attention."),
		annotations("Fleet health", true, false, true, false),
		mcp.WithNumber("cpu_percent", mcp.Description("CPU usage threshold in percent."), mcp.DefaultNumber(90.0), mcp.Min(1.0), mcp.Max(100.0)),
		mcp.WithNumber("memory_percent", mcp.Description("Memory usage threshold in percent."), mcp.DefaultNumber(90.0), mcp.Min(1.0), mcp.Max(100.0)),
		mcp.WithNumber("disk_percent", mcp.Description("Filesystem usage threshold in percent."), mcp.DefaultNumber(90.0), mcp.Min(1.0), mcp.Max(100.0)),
		mcp.WithNumber("temperature_celsius", mcp.Description("Temperature threshold in degrees Celsius."), mcp.DefaultNumber(80.0), mcp.Min(1.0), mcp.Max(150.0)),
	), typedTool(e.fleetHealth))
	e.tool(mcp.NewTool("list_containers",
		mcp.WithDescription("List Docker containers as of the last poll, on one device or on all, with state, health, image and restart count."),
		annotations("List containers", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithString("state", mcp.Description("Only containers in this state."), mcp.Enum("created", "running", "paused", "restarting", "removing", "exited", "dead")),
		mcp.WithString("project", mcp.Description("Only containers of this compose project.")),
		mcp.WithString("name", mcp.Description("Only containers whose name contains this text.")),
		mcp.WithInteger("limit", mcp.Description("Most containers to return."), mcp.DefaultNumber(mcpDefaultList), mcp.Min(1), mcp.Max(mcpMaxList)),
	), optionalDeviceTool(e, e.listContainers))
	e.tool(mcp.NewTool("get_container",
		mcp.WithDescription("One container in detail: state, health, image, ports, mounts, compose project, restart count and its latest resource usage."),
		annotations("Get container", true, false, true, false),
		deviceArg,
		mcp.WithString("container", mcp.Required(), mcp.Description("Container name or ID (at least 12 characters of an ID).")),
	), deviceTool(e, e.getContainer))
	e.tool(mcp.NewTool("get_container_logs",
		mcp.WithDescription("The last lines of a container's output (stdout and stderr, marked), fetched from the device now. Bounded by tail, since and a size cap; the newest lines are kept."),
		annotations("Get container logs", true, false, true, true),
		deviceArg,
		mcp.WithString("container", mcp.Required(), mcp.Description("Container name or ID.")),
		mcp.WithInteger("tail", mcp.Description("Number of lines from the end."), mcp.DefaultNumber(mcpDefaultLogTail), mcp.Min(1), mcp.Max(mcpMaxLogLines)),
		mcp.WithString("since", mcp.Description(`Only lines after this: an RFC 3339 time or a duration ago such as "10m".`)),
		mcp.WithInteger("max_bytes", mcp.Description("Cap on the returned text in bytes."), mcp.DefaultNumber(mcpDefaultLogCap), mcp.Min(256), mcp.Max(mcpMaxLogCap)),
	), deviceTool(e, e.getContainerLogs))
	e.tool(mcp.NewTool("list_events",
		mcp.WithDescription("Recent events, newest first: devices going online or offline, host-key changes, container state and health changes."),
		annotations("List events", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithString("kind", mcp.Description(`Event kind or kind prefix, e.g. "device.offline" or "container".`)),
		mcp.WithString("severity", mcp.Description("Only this severity."), mcp.Enum("info", "warning", "critical")),
		mcp.WithString("since", mcp.Description(`Only events after this: an RFC 3339 time or a duration ago such as "24h".`)),
		mcp.WithInteger("limit", mcp.Description("Most events to return."), mcp.DefaultNumber(50), mcp.Min(1), mcp.Max(200)),
	), optionalDeviceTool(e, e.listEvents))

	e.tool(mcp.NewTool("poll_device_now",
		mcp.WithDescription("Poll a device at once over SSH (instead of waiting for its interval) and return the poll's summary. Sends progress notifications."),
		annotations("Poll device now", false, false, false, true),
		deviceArg,
	), deviceTool(e, e.pollDeviceNow))
	e.tool(mcp.NewTool("pause_polling",
		mcp.WithDescription("Pause a device's poll loop (no SSH connections until resumed). The device keeps its history."),
		annotations("Pause polling", false, false, true, false),
		deviceArg,
	), deviceTool(e, e.signalTool(workflows.SignalPause, "paused")))
	e.tool(mcp.NewTool("resume_polling",
		mcp.WithDescription("Resume a paused device's poll loop; it polls at once."),
		annotations("Resume polling", false, false, true, false),
		deviceArg,
	), deviceTool(e, e.signalTool(workflows.SignalResume, "resumed")))
	e.addOperationTools()
	e.addScheduleTools()
	e.addSystemLogTools()
	e.addServiceTools()
	e.addAlertTools()
	e.addStorageTools()
	e.addInventoryTools()
}

// textResult is a result with both the model-readable text and the structured form.
func textResult(structured any, lines ...string) *mcp.CallToolResult {
	return mcp.NewToolResultStructured(structured, strings.Join(lines, "\n"))
}

type deviceBrief struct {
	ID           uuid.UUID  `json:"id"`
	Name         string     `json:"name"`
	Host         string     `json:"host"`
	Status       string     `json:"status"`
	StatusReason string     `json:"status_reason,omitempty"`
	LastSeen     *time.Time `json:"last_seen"`
	Enabled      bool       `json:"enabled"`
	DeviceType   string     `json:"device_type"`
	Tags         []string   `json:"tags"`
}

func briefOf(d *store.Device) deviceBrief {
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	return deviceBrief{ID: d.ID, Name: d.Name, Host: d.Host, Status: d.Status, StatusReason: d.StatusReason,
		LastSeen: d.LastSeen, Enabled: d.Enabled, DeviceType: d.DeviceType, Tags: tags}
}

func (e *mcpEndpoint) deviceLine(d *store.Device) string {
	line := fmt.Sprintf("- %s (%s): %s", d.Name, d.ID, d.Status)
	if d.StatusReason != "" {
		line += " (" + d.StatusReason + ")"
	}
	line += fmt.Sprintf(", host %s, last seen %s", d.Host, ago(e.s.Now(), d.LastSeen))
	if !d.Enabled {
		line += ", disabled"
	}
	if len(d.Tags) > 0 {
		line += ", tags " + strings.Join(d.Tags, ",")
	}
	return line
}

type listDevicesArgs struct {
	Status string `json:"status"`
	Tag    string `json:"tag"`
	Query  string `json:"query"`
	limitArg
}

func (e *mcpEndpoint) listDevices(ctx context.Context, call *toolCall, args *listDevicesArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("status", args.Status); err != nil {
		return nil, err
	}
	devs, next, err := store.ListDevices(ctx, e.s.Pool, store.DeviceFilter{Status: args.Status, Tag: args.Tag, Text: args.Query, Limit: args.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]deviceBrief, 0, len(devs))
	lines := []string{fmt.Sprintf("%d devices:", len(devs))}
	for _, d := range devs {
		out = append(out, briefOf(d))
		lines = append(lines, e.deviceLine(d))
	}
	if next != "" {
		lines = append(lines, "More devices exist: raise limit or filter by status, tag or query.")
	}
	if len(devs) == 0 {
		lines = []string{"No devices match."}
	}
	return textResult(map[string]any{"count": len(out), "devices": out, "more": next != ""}, lines...), nil
}

func (e *mcpEndpoint) getDevice(ctx context.Context, _ *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
	return e.deviceDetail(ctx, d)
}

// deviceDetail is get_device's answer, shared with the device resource.
func (e *mcpEndpoint) deviceDetail(ctx context.Context, d *store.Device) (*mcp.CallToolResult, error) {
	lines := []string{e.deviceLine(d)[2:]}
	out := map[string]any{"device": d}

	// The poll loop's state is a workflow query (a round trip through Temporal to a worker): it runs while the
	// database is read, so the answer waits for the slower of the two rather than their sum (#17).
	var (
		st        *workflows.DevicePollState
		statusErr error
	)
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, statusErr = e.s.Workflows.Status(sctx, d.ID)
	}()
	defer func() { <-statusDone }()

	// This device's figures only: the fleet-wide query made one device's read cost the whole fleet's (#17).
	f, err := store.DeviceFigures(ctx, e.s.Pool, d.ID, 15*time.Minute)
	switch {
	case err == nil:
		out["latest"] = f
		lines = append(lines, "Latest: "+figuresText(f))
	case errors.Is(err, store.ErrNotFound):
		lines = append(lines, "Latest: no metrics in the last 15 minutes.")
	default:
		return nil, err
	}

	// The containers too are read before waiting for the query.
	rows, _, err := store.ListContainers(ctx, e.s.Pool, store.ContainerFilter{DeviceID: &d.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}

	<-statusDone
	err = statusErr
	switch {
	case err == nil:
		loop := map[string]any{"paused": st.Paused, "blocked": st.Blocked, "block_reason": st.BlockReason,
			"offline": st.Offline, "consecutive_failures": st.ConsecutiveFailures, "interval": st.Interval.String(),
			"last_poll_at": service.NullTime(st.LastPollAt), "last_summary": st.LastSummary, "last_error": st.LastError,
			"next_poll_at": service.NullTime(st.NextPollAt)}
		out["poll_loop"] = loop
		state := "running"
		switch {
		case st.Paused:
			state = "paused (resume_polling resumes it)"
		case st.Blocked:
			state = "blocked: " + st.BlockReason
		case st.Offline:
			state = fmt.Sprintf("device offline after %d failed polls", st.ConsecutiveFailures)
		}
		lines = append(lines, fmt.Sprintf("Poll loop: %s, every %s, last poll %s", state, st.Interval, ago(e.s.Now(), service.NullTime(st.LastPollAt))))
		if st.LastError != "" {
			lines = append(lines, "Last poll error: "+st.LastError)
		}
	case errors.Is(err, workflows.ErrNotPolling):
		out["poll_loop"] = nil
		lines = append(lines, "Poll loop: not running (the device is disabled or its loop ended).")
	default:
		e.s.Log.Warn("poll loop status query failed", "device", d.ID, "err", err)
		lines = append(lines, "Poll loop: state unavailable (is a worker running?).")
	}

	if len(d.Capabilities) > 0 {
		out["capabilities"] = d.Capabilities
		lines = append(lines, "Capabilities: "+string(d.Capabilities))
	}
	counts := map[string]int{}
	for _, r := range rows {
		counts[string(r.State)]++
		if r.Health == docker.HealthUnhealthy {
			counts["unhealthy"]++
		}
	}
	out["containers"] = counts
	if len(rows) > 0 {
		lines = append(lines, fmt.Sprintf("Containers: %d (%s); list_containers shows them.", len(rows), countsText(counts)))
	}
	return textResult(out, lines...), nil
}

func countsText(m map[string]int) string {
	parts := []string{}
	for _, k := range []string{"running", "restarting", "paused", "exited", "created", "dead", "removing", "unhealthy"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func figuresText(f *store.LatestFigures) string {
	parts := []string{}
	add := func(name string, v *float64, unit string) {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s %s%s", name, num(*v), unit))
		}
	}
	add("CPU", f.CPUPercent, "%")
	add("memory", f.MemoryUsedPercent, "%")
	add("load1", f.Load1, "")
	if f.DiskMaxPercent != nil && f.DiskMaxMount != nil {
		parts = append(parts, fmt.Sprintf("fullest filesystem %s at %s%%", *f.DiskMaxMount, num(*f.DiskMaxPercent)))
	}
	add("hottest sensor", f.TempMaxCelsius, "°C")
	if len(parts) == 0 {
		return "no figures"
	}
	return strings.Join(parts, ", ")
}

// num renders a value with at most three significant decimals, the way a person would read it.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// parseWindow accepts Go durations plus whole days ("7d").
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Hour, nil
	}
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Minute || d > 400*24*time.Hour {
		return 0, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", `window must be a duration between 1m and 400d, such as "1h" or "7d"`)
	}
	return d, nil
}

type fleetHealthArgs struct {
	CPU    *float64 `json:"cpu_percent"`
	Memory *float64 `json:"memory_percent"`
	Disk   *float64 `json:"disk_percent"`
	Temp   *float64 `json:"temperature_celsius"`
}

func (e *mcpEndpoint) fleetHealth(ctx context.Context, _ *toolCall, args *fleetHealthArgs) (*mcp.CallToolResult, error) {
	th := DefaultHealthThresholds
	for _, o := range []struct {
		v   *float64
		dst *float64
	}{{args.CPU, &th.CPUPercent}, {args.Memory, &th.MemoryPercent}, {args.Disk, &th.DiskPercent}, {args.Temp, &th.TemperatureCelsius}} {
		if o.v != nil {
			*o.dst = *o.v
		}
	}
	figs, err := store.FleetFigures(ctx, e.s.Pool, 15*time.Minute)
	if err != nil {
		return nil, err
	}
	rows, _, err := store.ListContainers(ctx, e.s.Pool, store.ContainerFilter{Limit: 10000})
	if err != nil {
		return nil, err
	}
	report := ScoreFleet(figs, rows, th)
	if err := e.addStorageHealth(ctx, &report); err != nil {
		return nil, err
	}
	lines := []string{report.Headline()}
	for _, d := range report.Devices {
		lines = append(lines, "- "+d.Text())
	}
	inv, err := e.s.InventoryFleet(ctx)
	if err != nil {
		return nil, err
	}
	lines = append(lines, inv.Lines()...)
	return textResult(struct {
		FleetHealth
		Inventory *service.InventoryFleet `json:"inventory"`
	}{report, inv}, lines...), nil
}

type listEventsArgs struct {
	deviceRef
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Since    string `json:"since"`
	limitArg
}

func (e *mcpEndpoint) listEvents(ctx context.Context, call *toolCall, d *store.Device, args *listEventsArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("severity", args.Severity); err != nil {
		return nil, err
	}
	f := store.EventFilter{Kind: args.Kind, Severity: args.Severity, Limit: args.Limit}
	names := map[uuid.UUID]string{}
	if d != nil {
		f.DeviceID = &d.ID
		names[d.ID] = d.Name
	}
	if args.Since != "" {
		t, err := service.ParseTimeParam(args.Since, e.s.Now())
		if err != nil {
			return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "since "+err.Error())
		}
		f.Since = &t
	}
	events, next, err := store.ListEvents(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	if d == nil {
		devs, _, err := store.ListDevices(ctx, e.s.Pool, store.DeviceFilter{})
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			names[d.ID] = d.Name
		}
	}
	lines := []string{fmt.Sprintf("%d events, newest first:", len(events))}
	for _, ev := range events {
		who := "fleet"
		if ev.DeviceID != nil {
			who = names[*ev.DeviceID]
		}
		lines = append(lines, fmt.Sprintf("- %s %s [%s] %s: %s", ev.Time.UTC().Format(time.RFC3339), who, ev.Severity, ev.Kind, ev.Message))
	}
	if next != 0 {
		lines = append(lines, "Older events exist: narrow with since, kind or device.")
	}
	if events == nil {
		events = []*store.Event{}
	}
	return textResult(map[string]any{"count": len(events), "events": events, "more": next != 0}, lines...), nil
}

func (e *mcpEndpoint) pollDeviceNow(ctx context.Context, call *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String()
	call.audit.workflow = workflows.DevicePollWorkflowID(d.ID.String())
	e.progress(ctx, call, 0, 2, "asking the poll loop of "+d.Name+" to poll now")
	pctx, cancel := context.WithTimeout(ctx, service.PollNowTimeout)
	defer cancel()
	res, err := e.s.Workflows.PollNow(pctx, d.ID)
	if err != nil {
		return nil, mcpPollError(d, err)
	}
	e.progress(ctx, call, 2, 2, "poll finished")
	if res.Error != "" {
		return nil, service.Errorf(http.StatusBadGateway, "poll_failed", fmt.Sprintf("the poll of %s failed: %s (list_events shows its history)", d.Name, res.Error))
	}
	return textResult(map[string]any{"device_id": d.ID, "device": d.Name, "summary": res.Summary},
		fmt.Sprintf("Polled %s: %s", d.Name, res.Summary)), nil
}

// mcpPollError words a poll-loop error for the model, with what to do next.
func mcpPollError(d *store.Device, err error) error {
	var ae *service.Error
	if !errors.As(service.PollError(d, err), &ae) {
		return err
	}
	switch ae.Code {
	case "not_polling":
		ae.Message += "; an administrator must enable the device through the REST API"
	case "timeout":
		ae.Message = "no worker answered in time; the poll loop may be busy or no worker runs. Retry later or check get_device"
	}
	return ae
}

func (e *mcpEndpoint) signalTool(signal, done string) func(context.Context, *toolCall, *store.Device, *deviceRef) (*mcp.CallToolResult, error) {
	return func(ctx context.Context, call *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
		call.audit.target = "device/" + d.ID.String()
		call.audit.workflow = workflows.DevicePollWorkflowID(d.ID.String())
		if err := e.s.Workflows.Signal(ctx, d.ID, signal, nil); err != nil {
			return nil, mcpPollError(d, err)
		}
		return textResult(map[string]any{"device_id": d.ID, "device": d.Name, "accepted": signal},
			fmt.Sprintf("Polling of %s %s.", d.Name, done)), nil
	}
}
