package rest

var storageAPIRoutes = []route{
	{method: "get", path: "/drives", summary: "Every drive of the fleet with its SMART verdict and reasons, worst first",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"drives": obj{"type": "array", "items": ref("Drive")},
			"counts": obj{"type": "object", "description": "drives by health", "additionalProperties": obj{"type": "integer"}}}},
		params: []obj{query("health", "ok, warning, failing or unknown", "string"), query("device_id", "only this device's drives", "string")}},
	{method: "get", path: "/devices/{id}/drives", summary: "A device's drives, worst first, with the last collection's state (not installed, permission denied, no drives)",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"drives": obj{"type": "array", "items": ref("Drive")}, "counts": obj{"type": "object"}, "collection": ref("InventoryRun")}},
		params: []obj{query("health", "ok, warning, failing or unknown", "string")}},
	{method: "get", path: "/devices/{id}/drives/{serial}", summary: "One drive: its details, verdict and full SMART reading, and its readings of the last 7 days",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"drive": ref("Drive"),
			"history": obj{"type": "array", "items": ref("DriveSample")}}}},
	{method: "post", path: "/devices/{id}/drives/{serial}/actions", summary: "Run a SMART self-test (short or long) as a durable operation; ?wait=30s waits for it",
		scope: "operate", body: obj{"type": "object", "required": []string{"action", "type"}, "properties": obj{
			"action": obj{"type": "string", "enum": []string{"selftest"}}, "type": obj{"type": "string", "enum": []string{"short", "long"}}}},
		status: "202", resp: ref("Operation"), params: []obj{query("wait", "wait up to this long for the operation to finish, e.g. 30s", "string")}},
	{method: "get", path: "/zfs/pools", summary: "Every ZFS pool of the fleet with state and verdict, worst first",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"pools": obj{"type": "array", "items": ref("Pool")},
			"counts": obj{"type": "object", "description": "pools by state"}}},
		params: []obj{query("state", "ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED or SUSPENDED", "string"),
			query("device_id", "only this device's pools", "string")}},
	{method: "get", path: "/devices/{id}/zfs/pools", summary: "A device's ZFS pools with the last collection's state",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"pools": obj{"type": "array", "items": ref("Pool")}, "collection": ref("InventoryRun")}}},
	{method: "get", path: "/devices/{id}/zfs/pools/{name}", summary: "One pool: vdev tree, scan, status and action text, verdict, and its datasets",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"pool": ref("Pool"),
			"datasets": obj{"type": "array", "items": ref("Dataset")}}}},
	{method: "post", path: "/devices/{id}/zfs/pools/{name}/actions", summary: "Scrub a pool as a durable operation (one at a time per pool: 409); ?wait=30s waits for it",
		scope: "operate", body: obj{"type": "object", "required": []string{"action"}, "properties": obj{
			"action": obj{"type": "string", "enum": []string{"scrub"}}}},
		status: "202", resp: ref("Operation"), params: []obj{query("wait", "wait up to this long for the operation to finish, e.g. 30s", "string")}},
	{method: "get", path: "/devices/{id}/zfs/datasets", summary: "A device's datasets with snapshot counts, oldest and newest snapshot",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"),
			"datasets": obj{"type": "array", "items": ref("Dataset")}}},
		params: []obj{query("pool", "only this pool's datasets", "string")}},
	{method: "get", path: "/devices/{id}/zfs/snapshots", summary: "One page of snapshots, listed on the device now (oldest first); follow next_cursor",
		scope: "read", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"), "dataset": str("dataset or empty"),
			"snapshots": obj{"type": "array", "items": ref("Snapshot")}, "next_cursor": str("cursor of the next page; empty on the last"),
			"truncated": obj{"type": "boolean"}}},
		params: []obj{query("dataset", "only this dataset's snapshots", "string"), query("cursor", "next_cursor of the previous page", "string"),
			query("limit", "page size, 1-1000 (default 100)", "integer")}},
}

var (
	nInt   = obj{"type": "integer", "nullable": true}
	nNum   = obj{"type": "number", "nullable": true}
	nTime  = obj{"type": "string", "format": "date-time", "nullable": true}
	strArr = obj{"type": "array", "items": obj{"type": "string"}}
)

var storageSchemas = obj{
	"Drive": obj{"type": "object", "properties": obj{"device_id": str("device id"), "device_name": str("device name"),
		"serial": str("serial number ('path:/dev/...' while unread)"), "device_path": str("e.g. /dev/sda"),
		"type": str("smartctl -d type"), "protocol": str("ATA, NVMe or SCSI"), "model": str("model"), "wwn": str("World Wide Name"),
		"firmware": str("firmware"), "capacity_bytes": nInt, "rotation_rate": nInt, "temperature_c": nInt, "power_on_hours": nInt,
		"power_cycles": nInt, "state": obj{"type": "string", "enum": []string{"ok", "standby", "permission_denied", "unsupported", "usb_bridge", "open_failed", "error"}},
		"health":  obj{"type": "string", "enum": []string{"ok", "warning", "failing", "unknown"}},
		"reasons": strArr, "smart": obj{"type": "object", "description": "the parsed SMART reading: counters, exit bits, NVMe health"},
		"first_seen": obj{"type": "string", "format": "date-time"}, "read_at": nTime, "collected_at": obj{"type": "string", "format": "date-time"}}},
	"DriveSample": obj{"type": "object", "properties": obj{"time": obj{"type": "string", "format": "date-time"}, "serial": str("serial"),
		"temperature_c": nNum, "power_on_hours": nInt, "reallocated_sectors": nInt, "pending_sectors": nInt,
		"offline_uncorrectable": nInt, "reported_uncorrectable": nInt, "udma_crc_errors": nInt, "media_errors": nInt,
		"percentage_used": nNum, "grown_defects": nInt}},
	"Pool": obj{"type": "object", "properties": obj{"device_id": str("device id"), "device_name": str("device name"), "name": str("pool name"),
		"state":  obj{"type": "string", "enum": poolStates},
		"health": obj{"type": "string", "enum": []string{"ok", "warning", "failing", "unknown"}}, "reasons": strArr,
		"size_bytes": nInt, "alloc_bytes": nInt, "free_bytes": nInt, "fragmentation_percent": nNum, "capacity_percent": nNum,
		"dedup": nNum, "read_errors": obj{"type": "integer"}, "write_errors": obj{"type": "integer"}, "checksum_errors": obj{"type": "integer"},
		"data_errors": nInt, "last_scrub_end": nTime,
		"status":       obj{"type": "object", "description": "zpool status parsed: vdev tree (root, logs, cache, spares) with states and errors, scan, status, action, errors"},
		"collected_at": obj{"type": "string", "format": "date-time"}}},
	"Dataset": obj{"type": "object", "properties": obj{"device_id": str("device id"), "name": str("dataset"), "pool": str("pool"),
		"used_bytes": nInt, "avail_bytes": nInt, "refer_bytes": nInt, "compress_ratio": nNum, "mountpoint": str("mountpoint"),
		"snapshot_count": obj{"type": "integer"}, "snapshots_used_bytes": obj{"type": "integer"}, "oldest_snapshot": str("name after @"),
		"oldest_snapshot_at": nTime, "newest_snapshot": str("name after @"), "newest_snapshot_at": nTime,
		"collected_at": obj{"type": "string", "format": "date-time"}}},
	"Snapshot": obj{"type": "object", "properties": obj{"name": str("dataset@snapshot"), "dataset": str("dataset"),
		"used_bytes": obj{"type": "integer"}, "created": obj{"type": "string", "format": "date-time"}}},
}

func init() {
	// Schedules can scrub pools: the schedule action's schema learns the type and its pool (the schema maps are
	// shared, so this holds whichever init runs first).
	if in, ok := alertSchemas["ScheduleInput"].(obj); ok {
		if props, ok := in["properties"].(obj); ok {
			if action, ok := props["action"].(obj); ok {
				if ap, ok := action["properties"].(obj); ok {
					ap["type"] = obj{"type": "string", "enum": []string{"container", "compose_update", "image_prune", "zfs_scrub"}}
					ap["pool"] = str(`pool to scrub, or "*" for every pool of each device (type zfs_scrub)`)
				}
			}
		}
	}
	apiRoutes = append(apiRoutes, storageAPIRoutes...)
	for k, v := range storageSchemas {
		schemas[k] = v
	}
	if _, ok := schemas["InventoryRun"]; !ok {
		schemas["InventoryRun"] = obj{"type": "object", "nullable": true, "description": "the collector's last run",
			"properties": obj{"collector": str("drives or zfs"), "collected_at": obj{"type": "string", "format": "date-time"},
				"ok": obj{"type": "boolean"}, "summary": str("e.g. \"4 drives (1 warning)\", \"no pools\", \"zfs: not installed\""),
				"error": str("why it failed"), "last_ok_at": nTime}}
	}
}
