package rest

var inventoryAPIRoutes = []route{
	{method: "get", path: "/updates", summary: "Pending package updates of every device, security first (most security updates, then most updates), with fleet totals",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{
			"items": obj{"type": "array", "items": ref("DeviceUpdates")}, "totals": ref("UpdatesTotals"),
			"next_cursor": obj{"type": "string", "nullable": true}}},
		params: []obj{query("security", "only devices with pending security updates", "boolean"),
			query("pending", "only devices with pending updates", "boolean"),
			query("reboot_required", "only devices that ask for a reboot", "boolean"),
			query("limit", "most devices, 1-500 (default 50)", "integer")}},
	{method: "get", path: "/devices/{id}/updates", summary: "The device's latest package-update check (every 6 hours and on a poll-now; " +
		"read-only, from the cached package lists): counts, packages with current and candidate versions, security first, " +
		"reboot required, age of the lists; 404 before the first check", scope: "read", status: "200", resp: ref("DeviceUpdates")},
	{method: "get", path: "/devices/{id}/vms", summary: "The device's libvirt VMs as of the last collection (virsh on qemu:///system): " +
		"state, vCPUs, memory, autostart, disks, interfaces", scope: "read", status: "200", resp: ref("DeviceVMs")},
	{method: "post", path: "/devices/{id}/vms/{name}/actions", summary: "Start, shut down (waiting timeout seconds, default 120, " +
		"then destroying when destroy_after is true), reboot, suspend or resume a VM as a durable operation: precheck, act, verify, " +
		"record; 409 while another operation runs on the VM, or on a read-only device", scope: "operate",
		body: obj{"type": "object", "required": []string{"action"}, "properties": obj{
			"action":        obj{"type": "string", "enum": []string{"start", "shutdown", "reboot", "suspend", "resume"}},
			"timeout":       obj{"type": "integer", "minimum": 1, "maximum": 3600, "description": "shutdown only: seconds to wait for the guest"},
			"destroy_after": obj{"type": "boolean", "description": "shutdown only: force the power-off after the timeout"}}},
		status: "202", resp: ref("Operation"), params: []obj{query("wait", "wait up to this long for the result (e.g. 30s)", "string")}},
	{method: "post", path: "/devices/{id}/package-lists/refresh", summary: "Refresh the device's package lists (apt-get update, " +
		"dnf/yum makecache, apk update) as an audited operation, then check the updates again; needs the device's use_sudo " +
		"or a root login (pacman is refused: -Sy without -u leads to partial upgrades)", scope: "operate",
		status: "202", resp: ref("Operation"), params: []obj{query("wait", "wait up to this long for the result (e.g. 30s)", "string")}},
	{method: "get", path: "/devices/{id}/network", summary: "The device's interfaces (ip -j addr: kind, MAC, MTU, state, addresses, master), " +
		"default routes and subnets as of the last collection; 404 before it", scope: "read", status: "200", resp: ref("DeviceNetwork")},
	{method: "get", path: "/devices/{id}/docker-networks", summary: "The device's Docker networks: driver, subnets, gateway, compose project, " +
		"attached containers with their addresses", scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{
		"docker":       obj{"type": "boolean", "description": "false when the device had no working Docker at the last collection"},
		"docker_error": str("why the networks could not be read"), "items": obj{"type": "array", "items": ref("DockerNetwork")},
		"collected_at": obj{"type": "string", "format": "date-time"}}}},
	{method: "get", path: "/devices/{id}/containers/{ref}/dependencies", summary: "What a container needs (compose depends_on, " +
		"network_mode container:X, links), what needs it and what it shares (volumes, bind sources, user networks), each with " +
		"its state and whether it is unhealthy now; from the last poll", scope: "read", status: "200", resp: ref("Dependencies")},
}

var inventorySchemas = obj{
	"DeviceUpdates": obj{"type": "object", "properties": obj{
		"device_id": str("device id"), "device_name": str("device name"),
		"manager": obj{"type": "string", "enum": []string{"apt", "dnf", "yum", "apk", "pacman", "none"}},
		"total":   obj{"type": "integer"}, "security": obj{"type": "integer"},
		"security_known": obj{"type": "boolean", "description": "false where the manager cannot tell security updates apart (apk, pacman)"},
		"updates": obj{"type": "array", "items": obj{"type": "object", "properties": obj{"name": str("package"),
			"arch": str("architecture"), "current": str("installed version"), "candidate": str("version offered"),
			"security": obj{"type": "boolean"}, "origin": str("apt origins or the repository")}}},
		"truncated":              obj{"type": "boolean"},
		"reboot":                 obj{"type": "string", "enum": []string{"required", "not-required", "unknown"}},
		"reboot_packages":        obj{"type": "array", "items": obj{"type": "string"}},
		"failed":                 obj{"type": "boolean", "description": "the update query failed; messages say why"},
		"messages":               obj{"type": "array", "items": obj{"type": "string"}},
		"checked_at":             obj{"type": "string", "format": "date-time"},
		"lists_updated_at":       obj{"type": "string", "format": "date-time", "nullable": true},
		"lists_age":              obj{"type": "string", "nullable": true, "description": "age of the package lists, e.g. 26h0m0s"},
		"lists_age_seconds":      obj{"type": "number", "nullable": true},
		"security_pending_since": obj{"type": "string", "format": "date-time", "nullable": true},
		"reboot_required_since":  obj{"type": "string", "format": "date-time", "nullable": true}}},
	"UpdatesTotals": obj{"type": "object", "properties": obj{"devices_with_security_updates": obj{"type": "integer"},
		"security_updates": obj{"type": "integer"}, "devices_with_updates": obj{"type": "integer"}, "reboot_required": obj{"type": "integer"}}},
	"DeviceVMs": obj{"type": "object", "properties": obj{"device_id": str("device id"), "device_name": str("device name"),
		"collected":    obj{"type": "boolean", "description": "false before the first collection"},
		"available":    obj{"type": "boolean", "description": "false when the device has no virsh"},
		"error":        str("virsh's message when the listing failed (the last known VMs are kept)"),
		"collected_at": obj{"type": "string", "format": "date-time", "nullable": true},
		"items":        obj{"type": "array", "items": ref("VM")}}},
	"VM": obj{"type": "object", "properties": obj{"name": str("domain name"), "uuid": str("domain UUID"),
		"state": obj{"type": "string", "enum": []string{"running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended", "no state"}},
		"vcpus": obj{"type": "integer"}, "max_memory_kib": obj{"type": "integer"}, "used_memory_kib": obj{"type": "integer"},
		"autostart": obj{"type": "boolean"}, "persistent": obj{"type": "boolean"}, "os_type": str("hvm, linux ..."),
		"disks":       obj{"type": "array", "items": obj{"type": "object", "description": "type, device, target, source"}},
		"interfaces":  obj{"type": "array", "items": obj{"type": "object", "description": "name, type, source, model, mac"}},
		"error":       str("virsh's message when this domain could not be described"),
		"state_since": obj{"type": "string", "format": "date-time"}, "collected_at": obj{"type": "string", "format": "date-time"}}},
	"DeviceNetwork": obj{"type": "object", "properties": obj{"device_id": str("device id"), "device_name": str("device name"),
		"interfaces": obj{"type": "array", "items": obj{"type": "object", "description": "name, kind, link_type, mac, mtu, " +
			"oper_state, up, master, addresses (family, cidr, scope)"}},
		"default_routes": obj{"type": "array", "items": obj{"type": "object", "description": "family, gateway, dev, metric"}},
		"subnets":        obj{"type": "array", "items": obj{"type": "string"}, "description": "global networks the device has an address in"},
		"errors":         obj{"type": "array", "items": obj{"type": "string"}}, "truncated": obj{"type": "boolean"},
		"collected_at": obj{"type": "string", "format": "date-time"}}},
	"DockerNetwork": obj{"type": "object", "properties": obj{"id": str("network id"), "name": str("network name"),
		"driver": str("bridge, overlay, macvlan ..."), "scope": str("local or swarm"), "internal": obj{"type": "boolean"},
		"subnets":         obj{"type": "array", "items": obj{"type": "object", "description": "subnet, gateway"}},
		"containers":      obj{"type": "array", "items": obj{"type": "object", "description": "id, name, ipv4, ipv6, mac"}},
		"compose_project": str("project that created the network")}},
	"Dependencies": obj{"type": "object", "properties": obj{"container": str("the container asked about"),
		"needs":     obj{"type": "array", "items": ref("Relation")},
		"needed_by": obj{"type": "array", "items": ref("Relation")},
		"shares":    obj{"type": "array", "items": ref("Relation")}, "truncated": obj{"type": "boolean"}}},
	"InventoryFleet": obj{"type": "object", "description": "pending security updates, reboots and stopped autostart VMs across the fleet",
		"properties": obj{"devices_with_security_updates": obj{"type": "integer"}, "security_updates": obj{"type": "integer"},
			"devices_with_updates": obj{"type": "integer"}, "reboot_required": obj{"type": "integer"},
			"stopped_autostart_vms": obj{"type": "integer"},
			"security_devices":      obj{"type": "array", "items": obj{"type": "string"}, "description": "device (count), worst first, at most 20"},
			"reboot_devices":        obj{"type": "array", "items": obj{"type": "string"}},
			"stopped_vms":           obj{"type": "array", "items": obj{"type": "string"}, "description": "device/vm (state)"}}},
	"Relation": obj{"type": "object", "properties": obj{"name": str("related container (or compose service when missing)"),
		"id": str("container id"), "reason": obj{"type": "string", "enum": []string{"depends_on", "network_mode", "link", "shared_volume", "shared_network"}},
		"detail": str("condition, volume, network or alias"), "state": str("container state"), "health": str("health status"),
		"unhealthy": obj{"type": "boolean", "description": "not running, or its health check fails"},
		"missing":   obj{"type": "boolean", "description": "named but no such container exists"}}},
}

func init() {
	apiRoutes = append(apiRoutes, inventoryAPIRoutes...)
	for k, v := range inventorySchemas {
		schemas[k] = v
	}
	// The fleet summary counts what the inventory found.
	if fs, ok := schemas["FleetSummary"].(obj); ok {
		if props, ok := fs["properties"].(obj); ok {
			props["inventory"] = ref("InventoryFleet")
		}
	}
}
