package rest

var systemLogAPIRoutes = []route{
	{method: "get", path: "/devices/{id}/logs", summary: "Search the device's system log now (journald, else /var/log/syslog, " +
		"/var/log/messages or busybox logread): the newest matching entries, oldest first; audited as a read of sensitive data",
		scope: "read", status: "200", resp: ref("SystemLogs"), params: []obj{
			query("unit", `a systemd unit ("nginx" means nginx.service)`, "string"),
			query("priority", "this priority or more severe: emerg, alert, crit, err, warning, notice, info, debug or 0-7", "string"),
			query("since", `entries after this: RFC 3339, or a duration ago such as "1h"`, "string"),
			query("until", `entries before this: RFC 3339, or a duration ago`, "string"),
			query("grep", "a plain case-insensitive substring of the message (at most 256 bytes; no control characters, '\"' or '\\')", "string"),
			query("boot", `journald only: "current", an offset -1 to -999, or a 32-hex-digit boot ID`, "string"),
			query("limit", "newest entries to return, 1-5000 (default 200)", "integer")}},
}

var systemLogSchemas = obj{
	"SystemLogs": obj{"type": "object", "properties": obj{
		"device_id": str("device id"),
		"source":    obj{"type": "string", "enum": []string{"journald", "syslog", "messages", "logread", "none"}},
		"entries":   obj{"type": "array", "items": ref("SystemLogEntry")},
		"truncated": obj{"type": "boolean", "description": "the output was cut by the size or time bound: older or newer matches may be missing"},
		"skipped":   obj{"type": "integer", "description": "lines that could not be parsed"},
		"unapplied": obj{"type": "array", "items": str("filter"), "description": "filters the source could not apply (entries were kept)"},
	}},
	"SystemLogEntry": obj{"type": "object", "properties": obj{
		"time":       obj{"type": "string", "format": "date-time"},
		"priority":   obj{"type": "string", "enum": []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}},
		"unit":       str("systemd unit (journald only)"),
		"identifier": str("syslog identifier (program name)"),
		"pid":        obj{"type": "integer"},
		"hostname":   str("host name the entry names"),
		"message":    str("the message, control characters removed"),
		"binary":     obj{"type": "boolean", "description": "the message was not text; invalid bytes are shown as U+FFFD"},
		"cut":        obj{"type": "boolean", "description": "the message was shortened to 16 KiB"},
		"cursor":     str("journald cursor of the entry"),
	}},
}

func init() {
	apiRoutes = append(apiRoutes, systemLogAPIRoutes...)
	for k, v := range systemLogSchemas {
		schemas[k] = v
	}
}
