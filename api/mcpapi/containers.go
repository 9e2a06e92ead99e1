package mcpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/mark3labs/mcp-go/mcp"
	"go.temporal.io/sdk/temporal"
)

type containerBrief struct {
	DeviceID     uuid.UUID `json:"device_id"`
	Device       string    `json:"device"`
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Image        string    `json:"image"`
	State        string    `json:"state"`
	Status       string    `json:"status,omitempty"`
	Health       string    `json:"health"`
	RestartCount int       `json:"restart_count"`
	ExitCode     int       `json:"exit_code"`
	Project      string    `json:"compose_project,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func containerBriefOf(r *store.ContainerRow) containerBrief {
	id := r.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return containerBrief{DeviceID: r.DeviceID, Device: r.DeviceName, ID: id, Name: r.Name, Image: r.Image,
		State: string(r.State), Status: r.Status, Health: string(r.Health), RestartCount: r.RestartCount,
		ExitCode: r.ExitCode, Project: r.ComposeProject, UpdatedAt: r.UpdatedAt}
}

func containerLine(c containerBrief) string {
	line := fmt.Sprintf("- %s/%s (%s): %s", c.Device, c.Name, c.Image, c.State)
	if c.Health != "" && c.Health != string(docker.HealthNone) {
		line += ", " + c.Health
	}
	if c.State == string(docker.StateExited) {
		line += fmt.Sprintf(", exit code %d", c.ExitCode)
	}
	if c.RestartCount > 0 {
		line += fmt.Sprintf(", restarted %d times", c.RestartCount)
	}
	if c.Project != "" {
		line += ", compose project " + c.Project
	}
	return line
}

type listContainersArgs struct {
	deviceRef
	State   string `json:"state"`
	Project string `json:"project"`
	Name    string `json:"name"`
	limitArg
}

func (e *mcpEndpoint) listContainers(ctx context.Context, call *toolCall, d *store.Device, args *listContainersArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("state", args.State); err != nil {
		return nil, err
	}
	f := store.ContainerFilter{State: args.State, Project: args.Project, Name: args.Name, Limit: args.Limit}
	where := "all devices"
	if d != nil {
		f.DeviceID, where = &d.ID, d.Name
	}
	rows, next, err := store.ListContainers(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	out := make([]containerBrief, 0, len(rows))
	lines := []string{fmt.Sprintf("%d containers on %s (as of the last poll):", len(rows), where)}
	for _, r := range rows {
		b := containerBriefOf(r)
		out = append(out, b)
		lines = append(lines, containerLine(b))
	}
	if next != "" {
		lines = append(lines, "More containers exist: raise limit or filter.")
	}
	return textResult(map[string]any{"count": len(out), "containers": out, "more": next != ""}, lines...), nil
}

// resolveContainer finds a stored container of the device.
func (e *mcpEndpoint) resolveContainer(ctx context.Context, d *store.Device, ref string) (*store.ContainerRow, error) {
	if err := docker.ValidRef(ref); err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "container must be a container name or ID")
	}
	row, err := store.GetContainer(ctx, e.s.Pool, d.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no container %q on device %s (as of the last poll); call list_containers with device %q to see its containers", ref, d.Name, d.Name))
	}
	return row, err
}

type getContainerArgs struct {
	deviceRef
	Container string `json:"container"`
}

func (e *mcpEndpoint) getContainer(ctx context.Context, _ *toolCall, d *store.Device, args *getContainerArgs) (*mcp.CallToolResult, error) {
	row, err := e.resolveContainer(ctx, d, args.Container)
	if err != nil {
		return nil, err
	}
	latest, err := store.LatestContainerSample(ctx, e.s.Pool, d.ID, row.ID)
	if err != nil {
		return nil, err
	}
	lines := []string{containerLine(containerBriefOf(row))[2:], "ID: " + row.ID}
	if row.Status != "" {
		lines = append(lines, "Docker status: "+row.Status)
	}
	if !row.Started.IsZero() {
		lines = append(lines, "Started: "+row.Started.UTC().Format(time.RFC3339))
	}
	for _, p := range row.Ports {
		if p.HostPort > 0 {
			lines = append(lines, "Port: "+p.String()) // ranges as docker ps shows them (#15)
		}
	}
	if latest != nil {
		b, _ := json.Marshal(latest)
		lines = append(lines, "Latest usage: "+string(b))
	}
	lines = append(lines, fmt.Sprintf("As of the poll at %s.", row.UpdatedAt.UTC().Format(time.RFC3339)))
	return textResult(map[string]any{"container": row, "latest_stats": latest}, lines...), nil
}

type getContainerLogsArgs struct {
	deviceRef
	Container string `json:"container"`
	Tail      int    `json:"tail"`
	Since     string `json:"since"`
	MaxBytes  int    `json:"max_bytes"`
}

func (e *mcpEndpoint) getContainerLogs(ctx context.Context, _ *toolCall, d *store.Device, args *getContainerLogsArgs) (*mcp.CallToolResult, error) {
	if err := docker.ValidRef(args.Container); err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "container must be a container name or ID")
	}
	if args.Tail <= 0 {
		args.Tail = mcpDefaultLogTail
	}
	args.Tail = min(args.Tail, mcpMaxLogLines)
	if args.MaxBytes <= 0 {
		args.MaxBytes = mcpDefaultLogCap
	}
	args.MaxBytes = min(args.MaxBytes, mcpMaxLogCap)
	if _, err := docker.NormalizeTime("since", args.Since); err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", `since must be an RFC 3339 time or a duration such as "10m"`)
	}
	in := activities.FetchLogsInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(), Ref: args.Container,
		Tail: strconv.Itoa(args.Tail), Since: args.Since}
	fetch, err := e.s.FetchLogs(ctx, in)
	if err != nil {
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &app) && app.Type() == activities.ErrTypeContainerNotFound:
			return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no container %q on device %s; call list_containers to see its containers", args.Container, d.Name))
		case errors.As(err, &app):
			return nil, service.Errorf(http.StatusBadGateway, "device_error", fmt.Sprintf("could not read logs from %s: %s (get_device shows whether it is online)", d.Name, app.Message()))
		case errors.Is(err, context.DeadlineExceeded):
			return nil, service.Errorf(http.StatusGatewayTimeout, "timeout", fmt.Sprintf("device %s did not answer in time; get_device shows whether it is online", d.Name))
		}
		return nil, err
	}
	remote, _ := ctx.Value(mcpRemoteKey).(string)
	e.s.AuditRead(mcpToken(ctx), remote, service.AuditReadContainerLogs, "device/"+d.ID.String()+"/containers/"+args.Container,
		map[string]any{"interface": "mcp", "tail": in.Tail, "since": in.Since, "lines": len(fetch.Lines)})
	// Keep the newest lines within the cap, as the device-side fetch does with its larger one.
	lines, size, first := fetch.Lines, 0, len(fetch.Lines)
	for first > 0 && size+len(lines[first-1].Text)+1 <= args.MaxBytes {
		first--
		size += len(lines[first].Text) + 1
	}
	truncated := fetch.Truncated || first > 0
	lines = lines[first:]
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d lines of %s on %s (newest last", len(lines), args.Container, d.Name)
	if truncated {
		sb.WriteString("; older lines cut to fit the size cap")
	}
	sb.WriteString("):\n")
	for _, l := range lines {
		if l.Stream == "stderr" {
			sb.WriteString("[stderr] ")
		}
		sb.WriteString(l.Text)
		sb.WriteByte('\n')
	}
	return mcp.NewToolResultStructured(map[string]any{"device_id": d.ID, "container": args.Container,
		"lines": lines, "truncated": truncated}, sb.String()), nil
}
