package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/deps"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// addInventoryTools registers the tools of #13: package updates, VMs, networks and service dependencies.
func (e *mcpEndpoint) addInventoryTools() {
	e.tool(mcp.NewTool("check_updates",
		mcp.WithDescription("Pending package updates as of the last check (every 6 hours and on poll_device_now), security updates first: counts, whether a reboot is required, how old the package lists are, and per device the packages with installed and candidate versions (list_image_updates covers container images). Without device: every device, those with the most security updates first."),
		annotations("Check updates", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithBoolean("security_only", mcp.Description("Only security updates (and, for the fleet, only devices with some).")),
		mcp.WithInteger("limit", mcp.Description("Most packages (one device) or devices (fleet) to return."), mcp.DefaultNumber(mcpDefaultList), mcp.Min(1), mcp.Max(mcpMaxList)),
	), optionalDeviceTool(e, e.checkUpdates))
	e.tool(mcp.NewTool("get_vm_status",
		mcp.WithDescription("Virtual machines (libvirt domains, through virsh) as of the last collection: state, vCPUs, memory, autostart, disks and interfaces. Autostart VMs that are not running are flagged. Without device: every device's VMs."),
		annotations("Get VM status", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithString("vm", mcp.Description("Only this VM (domain name).")),
	), optionalDeviceTool(e, e.getVMStatus))
	e.tool(mcp.NewTool("list_docker_networks",
		mcp.WithDescription("A device's Docker networks as of the last collection: driver, subnets and gateways, compose project, and the containers attached with their addresses."),
		annotations("List Docker networks", true, false, true, false),
		deviceArg,
	), deviceTool(e, e.listDockerNetworks))
	e.tool(mcp.NewTool("get_network_topology",
		mcp.WithDescription("How devices and containers connect: which subnets several devices share (what links them), every device's subnets, which containers sit on which Docker networks, and which ports containers publish. For one device or the whole fleet."),
		annotations("Get network topology", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; the whole fleet when omitted.")),
	), optionalDeviceTool(e, e.getNetworkTopology))
	e.tool(mcp.NewTool("get_service_dependencies",
		mcp.WithDescription("For one container: what it needs (compose depends_on, network_mode container:X, links), what needs it, and what it shares (volumes, bind sources, user networks), each with its state and whether it is unhealthy now. As of the last poll."),
		annotations("Get service dependencies", true, false, true, false),
		deviceArg,
		mcp.WithString("container", mcp.Required(), mcp.Description("Container name or ID.")),
	), deviceTool(e, e.getServiceDependencies))
	e.addInventoryWriteTools()
}

type checkUpdatesArgs struct {
	deviceRef
	SecurityOnly bool `json:"security_only"`
	limitArg
}

func updatesLine(u *store.DeviceUpdates) string {
	line := fmt.Sprintf("- %s: %d updates", u.DeviceName, u.Total)
	if u.SecurityKnown {
		line += fmt.Sprintf(", %d security", u.Security)
	} else {
		line += " (security unknown for " + u.Manager + ")"
	}
	if u.Reboot == "required" {
		line += ", reboot required"
		if u.RebootSince != nil {
			line += " since " + u.RebootSince.UTC().Format(time.RFC3339)
		}
	}
	if u.SecuritySince != nil {
		line += ", security updates pending since " + u.SecuritySince.UTC().Format(time.RFC3339)
	}
	if u.ListsAge != nil {
		line += ", package lists " + u.ListsAge.Round(time.Minute).String() + " old"
	}
	if u.Failed {
		line += ", LAST CHECK FAILED"
		if len(u.Messages) > 0 {
			line += ": " + u.Messages[0]
		}
	}
	return line + ", checked " + u.CheckedAt.UTC().Format(time.RFC3339)
}

func (e *mcpEndpoint) checkUpdates(ctx context.Context, _ *toolCall, d *store.Device, args *checkUpdatesArgs) (*mcp.CallToolResult, error) {
	if d == nil {
		items, totals, err := e.s.FleetUpdateList(ctx, store.UpdatesFilter{SecurityOnly: args.SecurityOnly, Limit: args.Limit})
		if err != nil {
			return nil, err
		}
		lines := []string{fmt.Sprintf("%d devices have pending security updates (%d in all), %d have updates, %d need a reboot.",
			totals.DevicesWithSecurity, totals.SecurityUpdates, totals.DevicesWithUpdates, totals.RebootRequired)}
		type brief struct {
			Device        string     `json:"device"`
			Manager       string     `json:"manager"`
			Total         int        `json:"total"`
			Security      int        `json:"security"`
			SecurityKnown bool       `json:"security_known"`
			Reboot        string     `json:"reboot"`
			Failed        bool       `json:"failed"`
			CheckedAt     time.Time  `json:"checked_at"`
			SecuritySince *time.Time `json:"security_pending_since"`
		}
		out := make([]brief, 0, len(items))
		for _, u := range items {
			lines = append(lines, updatesLine(u))
			out = append(out, brief{u.DeviceName, u.Manager, u.Total, u.Security, u.SecurityKnown, u.Reboot, u.Failed, u.CheckedAt, u.SecuritySince})
		}
		if len(items) == 0 {
			lines = append(lines, "No device has been checked yet, or none matches.")
		}
		return textResult(map[string]any{"totals": totals, "devices": out}, lines...), nil
	}
	u, err := store.GetUpdates(ctx, e.s.Pool, d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("the packages of device %s have not been checked yet; the check runs every 6 hours, and poll_device_now forces it", d.Name))
	}
	if err != nil {
		return nil, err
	}
	lines := []string{updatesLine(u)[2:]}
	pkgs := u.Updates[:0:0]
	for _, p := range u.Updates {
		if args.SecurityOnly && !p.Security {
			continue
		}
		if len(pkgs) >= args.Limit {
			break
		}
		pkgs = append(pkgs, p)
		mark := ""
		if p.Security {
			mark = " [security]"
		}
		cur := p.Current
		if cur == "" {
			cur = "new"
		}
		lines = append(lines, fmt.Sprintf("- %s %s -> %s%s", p.Name, cur, p.Candidate, mark))
	}
	if len(u.RebootPkgs) > 0 {
		lines = append(lines, "Reboot asked for by: "+strings.Join(u.RebootPkgs, ", "))
	}
	shown := *u
	shown.Updates = pkgs
	return textResult(map[string]any{"updates": shown}, lines...), nil
}

type getVMStatusArgs struct {
	deviceRef
	VM string `json:"vm"`
}

func vmLine(v *store.VM) string {
	line := fmt.Sprintf("- %s on %s: %s since %s, %d vCPUs, %d MiB", v.Name, v.DeviceName, v.State,
		v.StateSince.UTC().Format(time.RFC3339), v.VCPUs, v.MaxMemoryKiB/1024)
	if v.Autostart {
		line += ", autostart"
		if v.State != "running" && v.Error == "" {
			line += " BUT NOT RUNNING"
		}
	}
	if v.Error != "" {
		line += ", virsh error: " + v.Error
	}
	return line
}

func (e *mcpEndpoint) getVMStatus(ctx context.Context, _ *toolCall, d *store.Device, args *getVMStatusArgs) (*mcp.CallToolResult, error) {
	f := store.VMFilter{}
	where := "all devices"
	var lines []string
	if d != nil {
		v, err := e.s.VMsOf(ctx, d)
		if err != nil {
			return nil, err
		}
		switch {
		case !v.Collected:
			return textResult(v, fmt.Sprintf("The VMs of %s have not been collected yet.", d.Name)), nil
		case !v.Available:
			return textResult(v, fmt.Sprintf("%s has no virsh (libvirt clients): no VMs to report.", d.Name)), nil
		case v.Error != "":
			lines = append(lines, "The last listing failed: "+v.Error+" (showing the VMs known before).")
		}
		f.DeviceID, where = &d.ID, d.Name
	}
	vms, err := store.ListVMs(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	out := []*store.VM{}
	for _, v := range vms {
		if args.VM != "" && v.Name != args.VM {
			continue
		}
		out = append(out, v)
		lines = append(lines, vmLine(v))
	}
	if args.VM != "" && len(out) == 0 {
		return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no VM %q on %s; call get_vm_status without vm to list them", args.VM, where))
	}
	lines = append([]string{fmt.Sprintf("%d VMs on %s (as of the last collection):", len(out), where)}, lines...)
	return textResult(map[string]any{"count": len(out), "vms": out}, lines...), nil
}

func (e *mcpEndpoint) listDockerNetworks(ctx context.Context, _ *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
	n, err := e.s.NetworkOf(ctx, d)
	if err != nil {
		return nil, err
	}
	if n.DockerNetworks == nil {
		msg := d.Name + " has no Docker networks to report (no Docker on it at the last collection)"
		if n.DockerError != "" {
			msg = d.Name + ": the Docker networks could not be read: " + n.DockerError
		}
		return textResult(map[string]any{"docker_networks": []any{}, "docker_error": n.DockerError}, msg), nil
	}
	lines := []string{fmt.Sprintf("%d Docker networks on %s (collected %s):", len(n.DockerNetworks), d.Name, n.CollectedAt.UTC().Format(time.RFC3339))}
	for _, dn := range n.DockerNetworks {
		subs := make([]string, 0, len(dn.Subnets))
		for _, s := range dn.Subnets {
			subs = append(subs, s.Subnet)
		}
		line := fmt.Sprintf("- %s (%s) %s", dn.Name, dn.Driver, strings.Join(subs, ", "))
		if dn.ComposeProject != "" {
			line += ", compose project " + dn.ComposeProject
		}
		members := make([]string, 0, len(dn.Containers))
		for _, c := range dn.Containers {
			members = append(members, strings.TrimSpace(c.Name+" "+c.IPv4))
		}
		if len(members) > 0 {
			line += ": " + strings.Join(members, "; ")
		}
		lines = append(lines, line)
	}
	return textResult(map[string]any{"docker_networks": n.DockerNetworks}, lines...), nil
}

func (e *mcpEndpoint) getNetworkTopology(ctx context.Context, _ *toolCall, d *store.Device, _ *deviceRef) (*mcp.CallToolResult, error) {
	t, err := e.s.Topology(ctx, d)
	if err != nil {
		return nil, err
	}
	var lines []string
	if len(t.SharedSubnets) == 0 {
		lines = append(lines, "No subnet is shared by several devices (of those collected).")
	}
	for _, s := range t.SharedSubnets {
		lines = append(lines, fmt.Sprintf("Subnet %s connects %s", s.Subnet, strings.Join(s.Devices, ", ")))
	}
	for _, n := range t.DockerNetworks {
		lines = append(lines, fmt.Sprintf("Docker network %s on %s (%s, %s): %s", n.Network, n.Device, n.Driver,
			strings.Join(n.Subnets, ", "), strings.Join(n.Containers, ", ")))
	}
	for _, p := range t.PublishedPorts {
		host := p.HostIP
		if host == "" {
			host = "*"
		}
		lines = append(lines, fmt.Sprintf("Port %s:%d/%s on %s -> %s:%d", host, p.HostPort, p.Protocol, p.Device, p.Container, p.ContainerPort))
	}
	return textResult(t, lines...), nil
}

type getServiceDependenciesArgs struct {
	deviceRef
	Container string `json:"container"`
}

func (e *mcpEndpoint) getServiceDependencies(ctx context.Context, _ *toolCall, d *store.Device, args *getServiceDependenciesArgs) (*mcp.CallToolResult, error) {
	if err := docker.ValidRef(args.Container); err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "container must be a container name or ID")
	}
	out, err := e.s.Dependencies(ctx, d, args.Container)
	if err != nil {
		var ae *service.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no container %q on device %s (as of the last poll); call list_containers with device %q", args.Container, d.Name, d.Name))
		}
		return nil, err
	}
	lines := []string{"Dependencies of " + out.Container + " on " + d.Name + " (as of the last poll):"}
	section := func(title string, rs []deps.Relation) {
		if len(rs) == 0 {
			lines = append(lines, title+": none")
			return
		}
		lines = append(lines, title+":")
		for _, r := range rs {
			line := fmt.Sprintf("- %s (%s", r.Name, r.Reason)
			if r.Detail != "" {
				line += ": " + r.Detail
			}
			line += ")"
			switch {
			case r.Missing:
				line += " MISSING"
			case r.Unhealthy:
				line += fmt.Sprintf(" UNHEALTHY (%s", r.State)
				if r.Health != "" && r.Health != docker.HealthNone {
					line += ", " + string(r.Health)
				}
				line += ")"
			default:
				line += " " + string(r.State)
			}
			lines = append(lines, line)
		}
	}
	section("Needs", out.Needs)
	section("Needed by", out.NeededBy)
	section("Shares", out.Shares)
	return textResult(out, lines...), nil
}

// addInventoryWriteTools registers the operations of #13: VM actions and the package-list refresh.
func (e *mcpEndpoint) addInventoryWriteTools() {
	e.tool(mcp.NewTool("vm_action",
		mcp.WithDescription("Start, shut down, reboot, suspend or resume a virtual machine (libvirt domain) as a durable operation: checked, done, verified and recorded even if this connection drops. shutdown asks the guest to power off and waits up to timeout seconds; with destroy_after it then forces the power-off. Waits up to wait_seconds with progress notifications, then returns the result or the operation id for get_operation. One operation per VM at a time."),
		annotations("VM action", false, true, false, true),
		deviceArg,
		mcp.WithString("vm", mcp.Required(), mcp.Description("VM (domain) name, as get_vm_status lists it.")),
		mcp.WithString("action", mcp.Required(), mcp.Description("What to do."), mcp.Enum("start", "shutdown", "reboot", "suspend", "resume")),
		mcp.WithInteger("timeout", mcp.Description("For shutdown: seconds to wait for the guest to power off (default 120)."), mcp.Min(1), mcp.Max(3600)),
		mcp.WithBoolean("destroy_after", mcp.Description("For shutdown: force the power-off (virsh destroy) when the guest did not power off in time.")),
		mcp.WithInteger("wait_seconds", mcp.Description("How long to wait for the result before returning the operation id."), mcp.DefaultNumber(int(mcpDefaultActionWait/time.Second)), mcp.Min(0), mcp.Max(int(mcpMaxActionWait/time.Second))),
	), deviceTool(e, e.vmAction))
	e.tool(mcp.NewTool("refresh_package_lists",
		mcp.WithDescription("Refresh a device's package lists (apt-get update, dnf/yum makecache, apk update) as an audited operation, then check its updates again. Installs nothing. Needs the device's use_sudo setting or a root login; check_updates alone never refreshes."),
		annotations("Refresh package lists", false, false, true, true),
		deviceArg,
		mcp.WithInteger("wait_seconds", mcp.Description("How long to wait for the result before returning the operation id."), mcp.DefaultNumber(int(mcpDefaultActionWait/time.Second)), mcp.Min(0), mcp.Max(int(mcpMaxActionWait/time.Second))),
	), deviceTool(e, e.refreshPackageLists))
}

type vmActionArgs struct {
	deviceRef
	VM           string `json:"vm"`
	Action       string `json:"action"`
	Timeout      *int   `json:"timeout"`
	DestroyAfter *bool  `json:"destroy_after"`
	WaitSeconds  *int   `json:"wait_seconds"`
}

func (e *mcpEndpoint) vmAction(ctx context.Context, call *toolCall, d *store.Device, args *vmActionArgs) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String() + "/vm/" + args.VM
	params := map[string]string{}
	if args.Timeout != nil {
		params["timeout"] = strconv.Itoa(*args.Timeout)
	}
	if args.DestroyAfter != nil {
		params["destroy_after"] = strconv.FormatBool(*args.DestroyAfter)
	}
	return e.runDeviceOperation(ctx, call, d, activities.DeviceOpInput{Kind: "vm", Target: args.VM, Action: args.Action,
		Params: params}, mcpWait(args.WaitSeconds))
}

type refreshPackageListsArgs struct {
	deviceRef
	WaitSeconds *int `json:"wait_seconds"`
}

func (e *mcpEndpoint) refreshPackageLists(ctx context.Context, call *toolCall, d *store.Device, args *refreshPackageListsArgs) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String() + "/package_lists"
	return e.runDeviceOperation(ctx, call, d, activities.DeviceOpInput{Kind: "package_lists", Action: "refresh"}, mcpWait(args.WaitSeconds))
}
