package rest

var serviceAPIRoutes = []route{
	{method: "get", path: "/devices/{id}/services", summary: "A device's failed and watched systemd units as of the last inventory " +
		"collection, worst first (critical: a watched unit not active; warning: a failed unit), with the systemd state " +
		"(null before the first collection; available=false on a device without systemd)", scope: "read", status: "200",
		resp: ref("Services")},
	{method: "post", path: "/devices/{id}/services/{unit}/actions", summary: "Start, stop, restart or reload a unit as a durable " +
		"operation (kind service, workflow op/<device>/service/<unit>): precheck (the unit exists; start on an active or stop on " +
		"an inactive or failed unit is a no-op), systemctl (through sudo -n with the device's use_sudo), verify (active, or stopped after " +
		"stop), record. {unit} is a unit name; a bare name gets .service. 202 + Location, or the result with ?wait=; 409 while " +
		"an operation runs on the unit or on a read-only device", scope: "operate",
		params: []obj{query("wait", `wait up to this long for the result, e.g. "30s"`, "string")},
		body: obj{"type": "object", "required": []string{"action"}, "properties": obj{
			"action":  obj{"type": "string", "enum": []string{"start", "stop", "restart", "reload"}},
			"timeout": obj{"type": "integer", "minimum": 1, "maximum": 600, "description": "seconds the unit may take to settle (default 90)"}}},
		status: "202", resp: ref("Operation")},
	{method: "get", path: "/devices/{id}/watched-units", summary: "The device's own watch list and the effective one (with its tags' lists)",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"units": obj{"type": "array", "items": str("unit name")}, "effective": obj{"type": "array", "items": str("unit name")}}}},
	{method: "put", path: "/devices/{id}/watched-units", summary: "Replace the device's watch list (systemd unit names, bare names get .service; at most 64)",
		scope: "admin", body: ref("WatchList"), status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"units": obj{"type": "array", "items": str("unit name")}, "effective": obj{"type": "array", "items": str("unit name")}}}},
	{method: "get", path: "/watched-units/tags", summary: "The watch lists of tags: every device with the tag watches its units",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"items": obj{"type": "array", "items": ref("TagWatchList")}}}},
	{method: "put", path: "/watched-units/tags/{tag}", summary: "Replace a tag's watch list (an empty list removes it)", scope: "admin",
		body: ref("WatchList"), status: "200", resp: ref("TagWatchList")},
	{method: "get", path: "/devices/{id}/processes", summary: "The device's top processes, read now through a short TopProcesses " +
		"workflow (the listing never enters workflow history); audited as read.processes", scope: "read",
		params: []obj{query("sort", "cpu (default) or memory", "string"), query("limit", "how many, 1-100 (default 10)", "integer")},
		status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"), "sort": str("cpu or memory"),
			"source": str("procps (ps) or proc (the /proc reader, e.g. with busybox)"), "items": obj{"type": "array", "items": ref("Process")},
			"truncated": obj{"type": "boolean"}}}},
	{method: "get", path: "/devices/{id}/processes/snapshot", summary: "The top 10 processes by CPU and by memory stored at the last inventory collection",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"taken_at": obj{"type": "string", "format": "date-time"}, "source": str("procps or proc"),
			"by_cpu": obj{"type": "array", "items": ref("Process")}, "by_memory": obj{"type": "array", "items": ref("Process")},
			"truncated": obj{"type": "boolean"}}}},
}

var serviceSchemas = obj{
	"Service": obj{"type": "object", "properties": obj{"unit": str("unit name"), "description": str("the unit's description"),
		"load_state": str("loaded, not-found, masked ..."), "active_state": str("active, inactive, failed, activating ..."),
		"sub_state":    str("running, dead, failed, exited ..."),
		"active_since": obj{"type": "string", "format": "date-time", "nullable": true, "description": "when it last became active"},
		"n_restarts":   obj{"type": "integer", "nullable": true, "description": "automatic restarts (NRestarts)"},
		"main_pid":     obj{"type": "integer"}, "memory_bytes": obj{"type": "integer", "nullable": true},
		"failed": obj{"type": "boolean"}, "watched": obj{"type": "boolean"},
		"level": obj{"type": "string", "enum": []string{"ok", "warning", "critical"}}, "reason": str("the verdict in words"),
		"first_seen": obj{"type": "string", "format": "date-time"}, "updated_at": obj{"type": "string", "format": "date-time"}}},
	"Services": obj{"type": "object", "properties": obj{"device_id": str("device id"),
		"systemd": obj{"type": "object", "nullable": true, "properties": obj{"available": obj{"type": "boolean"},
			"failed_count": obj{"type": "integer"}, "truncated": obj{"type": "boolean"},
			"collected_at": obj{"type": "string", "format": "date-time"}}},
		"watched_units": obj{"type": "array", "items": str("unit name")}, "items": obj{"type": "array", "items": ref("Service")}}},
	"WatchList": obj{"type": "object", "required": []string{"units"}, "properties": obj{
		"units": obj{"type": "array", "maxItems": 64, "items": str(`unit name, e.g. "nginx" or "nginx.service"`)}}},
	"TagWatchList": obj{"type": "object", "properties": obj{"tag": str("tag"), "units": obj{"type": "array", "items": str("unit name")}}},
	"Process": obj{"type": "object", "properties": obj{"pid": obj{"type": "integer"}, "user": str("user name (or uid)"),
		"command": str("program name"), "args": str("command line, at most 200 bytes, password-like values masked"),
		"args_cut": obj{"type": "boolean"}, "cpu_percent": obj{"type": "number", "description": "CPU time over lifetime, as ps computes it"},
		"rss_bytes": obj{"type": "integer"}, "state": str("ps STAT: R, S, D, Z, T, I and flags"),
		"started": obj{"type": "string", "format": "date-time"}}},
}

func init() {
	if props, ok := schemas["DeviceInput"].(obj)["properties"].(obj); ok {
		props["watched_units"] = obj{"type": "array", "maxItems": 64, "items": str(`systemd unit, e.g. "nginx" or "nginx.service"`),
			"description": "units whose state the services collection judges besides the failed ones (the device's tags may name more)"}
	}
	apiRoutes = append(apiRoutes, serviceAPIRoutes...)
	for k, v := range serviceSchemas {
		schemas[k] = v
	}
}
