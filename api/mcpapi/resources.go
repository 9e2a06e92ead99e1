package mcpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Resource URIs.
const (
	resDevices          = "infra://devices"
	resDevice           = "infra://devices/{id}"
	resDeviceContainers = "infra://devices/{id}/containers"
	resOperation        = "infra://operations/{id}"
	resMetricSchema     = "infra://schema/metrics"
)

func (e *mcpEndpoint) addResources() {
	e.srv.AddResource(mcp.NewResource(resDevices, "devices",
		mcp.WithResourceDescription("Every managed device with status, host, last contact and tags."), mcp.WithMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			devs, _, err := store.ListDevices(ctx, e.s.Pool, store.DeviceFilter{})
			if err != nil {
				return nil, e.internal(err)
			}
			out := make([]deviceBrief, 0, len(devs))
			for _, d := range devs {
				out = append(out, briefOf(d))
			}
			return jsonContents(req.Params.URI, out)
		})
	e.srv.AddResource(mcp.NewResource(resMetricSchema, "metric schema",
		mcp.WithResourceDescription("Every metric get_metrics serves: its values with units, and the label that splits it into series."),
		mcp.WithMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return jsonContents(req.Params.URI, map[string]any{
				"metrics": store.MetricSchema(),
				"notes": "get_metrics summarises each series over a window as min, avg, max, last and trend. " +
					"Percent values are 0-100; the containers metric's cpu_percent is percent of one core.",
			})
		})
	e.srv.AddResourceTemplate(mcp.NewResourceTemplate(resDevice, "device",
		mcp.WithTemplateDescription("One device: status, capabilities, poll loop state, latest key figures, container counts."),
		mcp.WithTemplateMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			d, err := e.deviceFromURI(ctx, req)
			if err != nil {
				return nil, err
			}
			res, err := e.deviceDetail(ctx, d)
			if err != nil {
				return nil, e.internal(err)
			}
			return jsonContents(req.Params.URI, res.StructuredContent)
		})
	e.srv.AddResourceTemplate(mcp.NewResourceTemplate(resDeviceContainers, "device containers",
		mcp.WithTemplateDescription("The containers of one device as of its last poll."), mcp.WithTemplateMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			d, err := e.deviceFromURI(ctx, req)
			if err != nil {
				return nil, err
			}
			rows, _, err := store.ListContainers(ctx, e.s.Pool, store.ContainerFilter{DeviceID: &d.ID, Limit: mcpMaxList})
			if err != nil {
				return nil, e.internal(err)
			}
			out := make([]containerBrief, 0, len(rows))
			for _, r := range rows {
				out = append(out, containerBriefOf(r))
			}
			return jsonContents(req.Params.URI, out)
		})
	e.srv.AddResourceTemplate(mcp.NewResourceTemplate(resOperation, "operation",
		mcp.WithTemplateDescription("One container operation: state, steps, result or error."), mcp.WithTemplateMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			id, _ := req.Params.Arguments["id"].([]string)
			ref := ""
			if len(id) > 0 {
				ref = id[0]
			}
			op, err := e.loadOperation(ctx, ref)
			var ae *service.Error
			if errors.As(err, &ae) {
				return nil, fmt.Errorf("%s: %w", ae.Message, server.ErrResourceNotFound)
			}
			if err != nil {
				return nil, e.internal(err)
			}
			return jsonContents(req.Params.URI, e.s.View(op))
		})
	e.addAlertResources()
}

// deviceFromURI resolves the {id} of a device resource (an id or a name).
func (e *mcpEndpoint) deviceFromURI(ctx context.Context, req mcp.ReadResourceRequest) (*store.Device, error) {
	ref := ""
	if v, ok := req.Params.Arguments["id"].([]string); ok && len(v) > 0 {
		ref = v[0]
	}
	d, err := e.resolveDevice(ctx, ref)
	var ae *service.Error
	if errors.As(err, &ae) {
		return nil, fmt.Errorf("%s: %w", ae.Message, server.ErrResourceNotFound)
	}
	if err != nil {
		return nil, e.internal(err)
	}
	return d, nil
}

// internal logs err and returns what a client may see of it: nothing but that it happened.
func (e *mcpEndpoint) internal(err error) error {
	e.s.Log.Error("MCP resource failed", "err", err)
	return errors.New("internal error (logged on the server); retry later")
}

func jsonContents(uri string, v any) ([]mcp.ResourceContents, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}

func (e *mcpEndpoint) addPrompts() {
	e.srv.AddPrompt(mcp.NewPrompt("analyze_device",
		mcp.WithPromptDescription("Analyse one device's health, resources and containers, and recommend actions."),
		mcp.WithArgument("device", mcp.ArgumentDescription("Device name or id."), mcp.RequiredArgument()),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		dev := req.Params.Arguments["device"]
		if dev == "" {
			return nil, errors.New("argument device is required")
		}
		return prompt("Analyse device "+dev, fmt.Sprintf(`Analyse the device %q managed by Infrastructor. Work in this order:
1. Call get_device with device %q: note its status, poll loop state, capabilities and latest figures. If it is offline
   or blocked, say so first; list_events with device %q and since "24h" shows when and why.
2. Call get_metrics for cpu, memory, disk and temperature (window "24h"), and load if CPU looks busy. Look at max,
   last and trend, not only the average.
3. If it runs Docker, call list_containers with device %q; for any container that is unhealthy, restarting, dead or
   exited with a non-zero code, call get_container and get_container_logs (tail 100).
   Call get_drive_health and verify_zfs_integrity with device %q: a failing or warning drive, a pool that is not
   ONLINE, checksum or data errors, or a scrub older than 35 days come before everything else but an outage.
4. Call list_services with device %q: failed units come first; for a failed unit or a watched unit that is not
   active, note since when and its restart count. If CPU or memory is high, get_top_processes shows what uses it.
5. Call get_system_logs with device %q, priority "err" and since "24h" for what the system itself reported (failing
   units, kernel errors, out-of-memory kills).
6. Summarise: what is healthy, what is wrong or trending badly (with the numbers), and the concrete next steps. Do
   not run container_action or service_action unless the user asked for it; propose it instead.`, dev, dev, dev, dev, dev, dev, dev)), nil
	})
	e.srv.AddPrompt(mcp.NewPrompt("troubleshoot_container",
		mcp.WithPromptDescription("Find out why a container misbehaves and propose (not run) a fix."),
		mcp.WithArgument("device", mcp.ArgumentDescription("Device name or id."), mcp.RequiredArgument()),
		mcp.WithArgument("container", mcp.ArgumentDescription("Container name or ID."), mcp.RequiredArgument()),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		dev, ctr := req.Params.Arguments["device"], req.Params.Arguments["container"]
		if dev == "" || ctr == "" {
			return nil, errors.New("arguments device and container are required")
		}
		return prompt("Troubleshoot "+ctr+" on "+dev, fmt.Sprintf(`Troubleshoot the container %q on device %q. Work in this order:
1. Call get_container with device %q and container %q: state, health, exit code, restart count, latest usage.
2. Call get_container_logs (tail 200) and look for the first error, not the last symptom.
3. Call list_events with device %q and kind "container" to see state and health changes over time.
4. Call get_metrics with metric "containers", label %q, window "6h" for its CPU and memory trend, and get_device to
   rule out a device-wide cause (disk full, memory pressure, offline); get_system_logs with unit "docker" and
   since "6h" shows what the Docker daemon said about it.
5. Explain the most likely cause with the evidence. If a restart would help, say so and ask before calling
   container_action (action restart); if it runs, report the operation's result or id.`, ctr, dev, dev, ctr, dev, ctr)), nil
	})
	e.srv.AddPrompt(mcp.NewPrompt("fleet_health_check",
		mcp.WithPromptDescription("Check the whole fleet and report what needs attention, worst first."),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return prompt("Fleet health check", `Check the health of the whole fleet managed by Infrastructor. Work in this order:
1. Call fleet_health: every device scored with reasons, worst first.
2. For each device that is critical or warning, call get_device, and get_metrics for the metric behind each reason
   (window "24h") to tell a spike from a trend.
3. Call list_events with severity "warning" and since "24h", and list_containers with state "restarting" and with
   state "exited", to catch what the scores summarise.
4. Report: a one-line verdict, then each problem worst first with the device, the evidence (numbers) and a
   recommended action. Do not change anything yourself.`), nil
	})
}

func prompt(description, text string) *mcp.GetPromptResult {
	return mcp.NewGetPromptResult(description, []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))})
}
