package rest

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func str(desc string) obj { return obj{"type": "string", "description": desc} }

func listOf(item string) obj {
	return obj{"type": "object", "required": []string{"items", "next_cursor"}, "properties": obj{
		"items":       obj{"type": "array", "items": ref(item)},
		"next_cursor": obj{"type": "string", "nullable": true, "description": "pass as ?cursor= for the next page; null on the last page"},
	}}
}

// route describes one operation of the API.
type route struct {
	method, path, summary, scope string
	params                       []obj
	body                         obj // request body schema, nil for none
	bodyType                     string
	status                       string
	resp                         obj // response schema, nil for no content
}

func pathParam(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

func query(name, desc, typ string) obj {
	return obj{"name": name, "in": "query", "description": desc, "schema": obj{"type": typ}}
}

var pageParamsDoc = []obj{query("limit", "page size, 1-500 (default 50)", "integer"), query("cursor", "next_cursor of the previous page", "string")}

// apiRoutes lists every /api/v1 operation; TestOpenAPIDescribesEveryRoute fails when a route is missing here.
var apiRoutes = []route{
	{method: "get", path: "/openapi.json", summary: "This document", scope: "read", status: "200", resp: obj{"type": "object"}},
	{method: "get", path: "/devices", summary: "List devices", scope: "read", status: "200", resp: listOf("Device"),
		params: append([]obj{query("tag", "only devices with this tag", "string"),
			query("status", "unknown, online, offline or blocked", "string"),
			query("q", "text matched against name, host and description", "string"),
			query("enabled", "true or false", "boolean")}, pageParamsDoc...)},
	{method: "post", path: "/devices", summary: "Create a device (starts its poll loop when enabled)", scope: "admin",
		body: ref("DeviceInput"), status: "201", resp: ref("Device")},
	{method: "post", path: "/devices/import", summary: "Create or update devices from an OpenSSH client config", scope: "admin",
		body: obj{"type": "string", "description": "the contents of an ssh_config file"}, bodyType: "text/plain",
		params: []obj{query("dry_run", "report without changing anything", "boolean"),
			query("default_user", "login for hosts without User", "string"),
			query("tags", "comma-separated tags for new devices", "string"),
			query("host_key_policy", "require_approval (default) or trust_first_use for new devices", "string")},
		status: "200", resp: ref("ImportReport")},
	{method: "get", path: "/devices/{id}", summary: "Get a device", scope: "read", status: "200", resp: ref("Device")},
	{method: "patch", path: "/devices/{id}", summary: "Change some fields of a device", scope: "admin",
		body: ref("DeviceInput"), status: "200", resp: ref("Device")},
	{method: "delete", path: "/devices/{id}", summary: "Delete a device and stop its poll loop", scope: "admin", status: "204"},
	{method: "get", path: "/devices/{id}/status", summary: "Stored status and the poll loop's state (from the workflow)",
		scope: "read", status: "200", resp: ref("DeviceStatus")},
	{method: "get", path: "/devices/{id}/metrics", summary: "A metric's time series, aggregated per step (avg/min/max)",
		scope: "read", status: "200", resp: ref("MetricSeries"), params: []obj{
			query("metric", "cpu, cpu_cores (one series per core), memory, load, disk, network, diskio, temperature, containers, drive_temperature, drive_counters or pool_capacity", "string"),
			query("from", "RFC 3339, unix seconds, or a duration ago such as 6h (default 1h ago)", "string"),
			query("to", "same forms as from (default now)", "string"),
			query("step", "bucket size such as 1m (default: about 300 buckets, never more than 1000)", "string")}},
	{method: "post", path: "/devices/{id}/poll", summary: "Poll the device now and return the poll's summary",
		scope: "operate", status: "200", resp: obj{"type": "object", "properties": obj{"device_id": str("device id"), "summary": str("one-line result")}}},
	{method: "post", path: "/devices/{id}/pause", summary: "Pause the device's poll loop", scope: "operate", status: "202", resp: ref("Accepted")},
	{method: "post", path: "/devices/{id}/resume", summary: "Resume a paused or blocked poll loop", scope: "operate", status: "202", resp: ref("Accepted")},
	{method: "get", path: "/devices/{id}/host-keys", summary: "Host keys the device (and its jump host) offered",
		scope: "read", status: "200", resp: listOf("HostKey")},
	{method: "post", path: "/devices/{id}/host-key/approve", summary: "Trust the pending host key named by its fingerprint and resume polling (422 without one)",
		scope: "admin", body: obj{"type": "object", "required": []string{"fingerprint"},
			"properties": obj{"fingerprint": str("SHA256:... of the pending key you compared, as host-keys lists it")}},
		status: "200", resp: ref("HostKey")},
	{method: "get", path: "/fleet/summary", summary: "Device counts by status, each device's latest key figures, drives by health and pools by state (storage)",
		scope: "read", status: "200", resp: ref("FleetSummary")},
	{method: "get", path: "/events", summary: "Device events (status changes, host-key events), newest first",
		scope: "read", status: "200", resp: listOf("Event"), params: append([]obj{query("device_id", "only this device", "string"),
			query("kind", "e.g. device.offline, or a prefix such as host_key", "string"), query("severity", "info, warning or critical", "string"),
			query("since", "RFC 3339, unix seconds or a duration ago", "string"), query("until", "same forms as since", "string")}, pageParamsDoc...)},
	{method: "get", path: "/containers", summary: "Containers of every device", scope: "read", status: "200",
		resp: listOf("ContainerRow"), params: append([]obj{query("device_id", "only this device", "string"),
			query("state", "created, running, paused, restarting, removing, exited or dead", "string"),
			query("project", "compose project", "string"), query("name", "substring of the name", "string")}, pageParamsDoc...)},
	{method: "get", path: "/devices/{id}/containers", summary: "Containers of one device", scope: "read", status: "200",
		resp: listOf("ContainerRow"), params: append([]obj{query("state", "container state", "string"),
			query("project", "compose project", "string"), query("name", "substring of the name", "string")}, pageParamsDoc...)},
	{method: "get", path: "/devices/{id}/containers/{ref}", summary: "One container's details and latest stats", scope: "read",
		status: "200", resp: obj{"type": "object", "properties": obj{"container": ref("ContainerRow"),
			"latest_stats": obj{"type": "object", "nullable": true}, "docker": obj{"type": "object", "nullable": true}}}},
	{method: "get", path: "/devices/{id}/containers/{ref}/logs", summary: "A container's logs, stdout and stderr marked",
		scope: "read", status: "200", params: []obj{query("tail", `lines from the end or "all" (default 200, at most 10000)`, "string"),
			query("since", "RFC 3339, unix seconds or a duration such as 10m", "string"), query("until", "same forms as since", "string"),
			query("timestamps", "false to leave out the times", "boolean")},
		resp: obj{"type": "object", "properties": obj{"lines": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
			"time": obj{"type": "string", "format": "date-time"}, "stream": obj{"type": "string", "enum": []string{"stdout", "stderr"}},
			"text": str("the line")}}}, "truncated": obj{"type": "boolean"}}}},
	{method: "get", path: "/tokens", summary: "List API tokens (never their secrets)", scope: "admin", status: "200", resp: listOf("Token")},
	{method: "post", path: "/tokens", summary: "Create an API token; the secret is returned once", scope: "admin",
		body: ref("TokenInput"), status: "201", resp: ref("TokenCreated")},
	{method: "delete", path: "/tokens/{id}", summary: "Revoke an API token", scope: "admin", status: "200", resp: ref("Token")},
	{method: "get", path: "/audit", summary: "Read the audit log, newest first", scope: "admin", status: "200", resp: listOf("AuditRecord"),
		params: append([]obj{query("action", "only this action, e.g. device.create", "string"),
			query("target", "only this target, e.g. device/<id>", "string")}, pageParamsDoc...)},
	{method: "post", path: "/devices/{id}/containers/{ref}/actions", summary: "Run an action on a container as a durable operation " +
		"(one at a time per container: 409 names the running one, or says the device is read-only)", scope: "operate", body: ref("ContainerAction"),
		params: []obj{query("wait", `wait up to this long (e.g. "30s", at most 5m) and answer 200 with the finished operation`, "string")},
		status: "202", resp: ref("Operation")},
	{method: "post", path: "/devices/{id}/compose/{project}/actions", summary: "Run up, down, pull (then recreate) or restart on a " +
		"compose project as a durable operation (409 while the project's working directory is unconfirmed)", scope: "operate",
		body:   ref("ComposeAction"),
		params: []obj{query("wait", `wait up to this long (e.g. "30s", at most 5m) and answer 200 with the finished operation`, "string")},
		status: "202", resp: ref("Operation")},
	{method: "post", path: "/devices/{id}/compose/{project}/confirm", summary: "Confirm the working directory a compose project's " +
		"containers name in their com.docker.compose.project.working_dir label (any image can set it), once per device and " +
		"project; compose actions use no other directory", scope: "admin", body: ref("ComposeConfirm"), status: "200",
		resp: ref("ComposeWorkdir")},
	{method: "get", path: "/operations", summary: "List operations, newest first", scope: "read", status: "200", resp: listOf("Operation"),
		params: append([]obj{query("device_id", "only this device's operations", "string"),
			query("state", "pending, running, succeeded, failed or cancelled", "string"),
			query("action", "only this action, e.g. restart", "string")}, pageParamsDoc...)},
	{method: "get", path: "/operations/{id}", summary: "Get an operation: state, steps, result and a Temporal UI link", scope: "read",
		status: "200", resp: ref("Operation")},
	{method: "post", path: "/operations/{id}/cancel", summary: "Cancel a running operation (409 when it has finished)", scope: "operate",
		status: "202", resp: ref("Operation")},
}

var schemas = obj{
	"Error": obj{"type": "object", "properties": obj{"error": obj{"type": "object", "required": []string{"code", "message"},
		"properties": obj{"code": str("machine-readable code"), "message": str("human-readable message"),
			"fields": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "per-field problems (422)"}}}}},
	"DeviceInput": obj{"type": "object", "description": "name, host and user are required on create", "properties": obj{
		"name": str("unique name, 1-63 of [A-Za-z0-9._-]"), "host": str("IP address or DNS name"),
		"port": obj{"type": "integer", "default": 22}, "user": str("login user"), "description": str("free text"),
		"device_type": str("linux, unraid, raspberrypi, ..."), "tags": obj{"type": "array", "items": obj{"type": "string"}},
		"poll_interval": obj{"type": "string", "default": "30s", "description": "duration between 5s and 1h"},
		"inventory_interval": obj{"type": "string", "default": "10m", "description": "cadence of the slow collection " +
			"(drives, pools, services, updates, VMs, networks), between 1m and 24h"},
		"use_sudo": obj{"type": "boolean", "default": false, "description": "run the commands that need root (smartctl, " +
			"systemctl and virsh actions, package-list refreshes) through sudo -n"},
		"enabled": obj{"type": "boolean", "default": true}, "jump_host": obj{"type": "string", "nullable": true, "description": "[user@]host[:port]"},
		"host_key_policy": obj{"type": "string", "enum": []string{"require_approval", "trust_first_use"}, "default": "require_approval"},
		"read_only": obj{"type": "boolean", "default": false, "description": "monitoring only: every container, compose and " +
			"maintenance operation is refused (409) before the worker dials the device"},
		"docker_host": obj{"type": "string", "nullable": true, "description": "DOCKER_HOST for the docker commands on the device, " +
			"e.g. a socket proxy: unix:///path/to/socket or tcp://host:port"}}},
	"Device": obj{"allOf": []obj{ref("DeviceInput"), {"type": "object", "properties": obj{
		"id": obj{"type": "string", "format": "uuid"}, "status": obj{"type": "string", "enum": []string{"unknown", "online", "offline", "blocked"}},
		"status_reason": str("why the device is offline or blocked"), "last_seen": obj{"type": "string", "format": "date-time", "nullable": true},
		"capabilities": obj{"type": "object", "description": "OS, kernel, CPU, memory and tools detected on the device"},
		"created_at":   obj{"type": "string", "format": "date-time"}, "updated_at": obj{"type": "string", "format": "date-time"}}}}},
	"ImportReport": obj{"type": "object", "properties": obj{"dry_run": obj{"type": "boolean"},
		"created": obj{"type": "array", "items": ref("ImportItem")}, "updated": obj{"type": "array", "items": ref("ImportItem")},
		"skipped": obj{"type": "array", "items": ref("ImportItem")}}},
	"ImportItem": obj{"type": "object", "properties": obj{"name": str("host alias"), "id": str("device id"),
		"host": str("HostName"), "line": obj{"type": "integer"}, "reason": str("why it was skipped")}},
	"TokenInput": obj{"type": "object", "required": []string{"name", "scopes"}, "properties": obj{"name": str("label"),
		"scopes": obj{"type": "array", "items": obj{"type": "string", "enum": []string{"read", "operate", "admin"}}},
		"expires_at": obj{"type": "string", "nullable": true, "description": "an RFC 3339 time, or \"never\" (as null does) for " +
			"no expiry; omitted, the token lives INFRA_TOKEN_DEFAULT_TTL (forever when that is 0)"}}},
	"Token": obj{"type": "object", "properties": obj{"id": obj{"type": "string", "format": "uuid"}, "name": str("label"),
		"scopes": obj{"type": "array", "items": obj{"type": "string"}}, "prefix": str("first characters of the secret"),
		"created_at": obj{"type": "string", "format": "date-time"}, "expires_at": obj{"type": "string", "format": "date-time", "nullable": true},
		"revoked_at": obj{"type": "string", "format": "date-time", "nullable": true}, "last_used_at": obj{"type": "string", "format": "date-time", "nullable": true,
			"description": "recorded at most once a minute"}, "bootstrap": obj{"type": "boolean",
			"description": "stored from INFRA_ADMIN_TOKEN; a new secret there revokes it"}}},
	"Accepted": obj{"type": "object", "properties": obj{"device_id": str("device id"), "accepted": str("the signal sent")}},
	"DeviceStatus": obj{"type": "object", "properties": obj{"device_id": str("device id"), "status": str("stored status"),
		"status_reason": str("why"), "last_seen": obj{"type": "string", "format": "date-time", "nullable": true},
		"workflow_id": str("device-poll/<id>"), "temporal_ui": str("link to the workflow in the Temporal UI"),
		"poll_loop": obj{"type": "object", "nullable": true, "description": "paused, blocked, offline, consecutive_failures, interval, effective_interval, last_poll_at, last_summary, last_error, polls, next_poll_at"}}},
	"MetricSeries": obj{"type": "object", "properties": obj{"device_id": str("device id"), "metric": str("metric name"),
		"from": obj{"type": "string", "format": "date-time"}, "to": obj{"type": "string", "format": "date-time"}, "step": str("bucket size"),
		"series": obj{"type": "array", "items": obj{"type": "object", "properties": obj{"name": str("value name, e.g. usage_percent"),
			"label": str("mount, interface, disk or sensor"), "unit": str("percent, bytes, bytes/s, celsius, ..."),
			"points": obj{"type": "array", "items": obj{"type": "object", "properties": obj{"time": obj{"type": "string", "format": "date-time"},
				"avg": obj{"type": "number"}, "min": obj{"type": "number"}, "max": obj{"type": "number"}}}}}}}}},
	"HostKey": obj{"type": "object", "properties": obj{"device_id": str("device id"), "role": obj{"type": "string", "enum": []string{"device", "jump"}},
		"fingerprint": str("SHA256 fingerprint"), "key_type": str("e.g. ssh-ed25519"), "public_key": str("authorized_keys form"),
		"state": obj{"type": "string", "enum": []string{"pending", "approved", "retired"}}, "first_seen": obj{"type": "string", "format": "date-time"},
		"approved_at": obj{"type": "string", "format": "date-time", "nullable": true}, "approved_by": obj{"type": "string", "nullable": true}}},
	"FleetSummary": obj{"type": "object", "properties": obj{"total": obj{"type": "integer"},
		"by_status": obj{"type": "object", "additionalProperties": obj{"type": "integer"}},
		"devices":   obj{"type": "array", "items": obj{"type": "object", "description": "device_id, name, status, last_seen, cpu_percent, memory_used_percent, load1, disk_max_used_percent, disk_max_mount, temperature_max_celsius"}}}},
	"Event": obj{"type": "object", "properties": obj{"id": obj{"type": "integer"}, "time": obj{"type": "string", "format": "date-time"},
		"device_id": obj{"type": "string", "nullable": true}, "kind": str("e.g. device.offline"),
		"severity": obj{"type": "string", "enum": []string{"info", "warning", "critical"}}, "message": str("what happened"), "data": obj{"type": "object"}}},
	"ContainerRow": obj{"type": "object", "description": "a container as last polled: id, name, image, image_id, state, " +
		"status, health, exit_code, restart_count, created, started, finished, ports, mounts, networks, labels, compose_project, " +
		"compose_service, compose_working_dir, plus device_id, device_name and updated_at. Each port is {host_ip, host_port, " +
		"container_port, protocol}; a range of consecutive ports is one entry with container_port_end (and host_port_end " +
		"when published). truncated lists fields cut to the parser's limits (ports, labels, mounts, networks, text)"},
	"TokenCreated": obj{"allOf": []obj{ref("Token"), {"type": "object", "properties": obj{"token": str("the secret, shown only in this response")}}}},
	"AuditRecord": obj{"type": "object", "properties": obj{"id": obj{"type": "integer"}, "time": obj{"type": "string", "format": "date-time"},
		"token_id": obj{"type": "string", "nullable": true}, "token_name": str("token label"), "action": str("e.g. device.create"),
		"target": str("e.g. device/<id>"), "outcome": obj{"type": "string", "enum": []string{"success", "failure", "denied"}},
		"status_code": obj{"type": "integer"}, "workflow_id": obj{"type": "string", "nullable": true}, "remote_addr": str("client address"),
		"detail": obj{"type": "object"}}},
	"ContainerAction": obj{"type": "object", "required": []string{"action"}, "properties": obj{
		"action":  obj{"type": "string", "enum": []string{"start", "stop", "restart", "pause", "unpause", "kill", "remove"}},
		"timeout": obj{"type": "integer", "minimum": 0, "maximum": 3600, "description": "stop and restart: seconds before SIGKILL (default 10)"},
		"signal":  str("kill: signal name or number (default KILL)"), "force": obj{"type": "boolean", "description": "remove: also a running container"},
		"volumes": obj{"type": "boolean", "description": "remove: also its anonymous volumes"}}},
	"ComposeAction": obj{"type": "object", "required": []string{"action"}, "properties": obj{
		"action": obj{"type": "string", "enum": []string{"up", "down", "pull", "restart"}}}},
	"ComposeConfirm": obj{"type": "object", "required": []string{"working_dir"}, "properties": obj{
		"working_dir": str("exactly what the project's com.docker.compose.project.working_dir label says")}},
	"ComposeWorkdir": obj{"type": "object", "properties": obj{"device_id": obj{"type": "string", "format": "uuid"},
		"project": str("compose project"), "working_dir": str("the confirmed directory"),
		"confirmed_at": obj{"type": "string", "format": "date-time"}, "token_name": str("the token that confirmed it")}},
	"Operation": obj{"type": "object", "properties": obj{"id": obj{"type": "string", "format": "uuid"},
		"workflow_id": str("container-op/<device-id>/<container>, container-op/<device-id>/compose:<project>, or " +
			"op/<device-id>/<kind>/<target> for device operations"),
		"kind":   str("container, compose, or the device operation kind (zfs_scrub, smart_selftest, service, vm, package_lists ...)"),
		"run_id": str("the workflow run"), "device_id": obj{"type": "string", "format": "uuid"},
		"target": str("container name, or compose:<project>"), "action": str("the action"), "params": obj{"type": "object"},
		"state": obj{"type": "string", "enum": []string{"pending", "running", "succeeded", "failed", "cancelled"}},
		"steps": obj{"type": "array", "items": obj{"type": "object", "properties": obj{"name": obj{"type": "string", "enum": []string{"precheck", "act", "verify", "record"}},
			"state": obj{"type": "string", "enum": []string{"running", "succeeded", "failed"}}, "attempt": obj{"type": "integer"},
			"started_at": obj{"type": "string", "format": "date-time"}, "finished_at": obj{"type": "string", "format": "date-time"}, "detail": str("what the step saw")}}},
		"result": obj{"type": "object", "nullable": true, "description": "summary, noop, already_done, before and after " +
			"({containers:[{id,name,state,exit_code,restart_count,started_at,finished_at}]}), output, duration_ms"},
		"error": str("why it failed"), "token_id": obj{"type": "string", "nullable": true}, "token_name": str("who asked"),
		"created_at": obj{"type": "string", "format": "date-time"}, "started_at": obj{"type": "string", "format": "date-time", "nullable": true},
		"finished_at": obj{"type": "string", "format": "date-time", "nullable": true}, "temporal_ui": str("link to the workflow history")}},
}

func errorResponses(scope string, hasBody bool) obj {
	r := obj{
		"401": obj{"description": "missing, invalid, expired or revoked token", "content": obj{"application/json": obj{"schema": ref("Error")}}},
		"403": obj{"description": "the token lacks scope " + scope, "content": obj{"application/json": obj{"schema": ref("Error")}}},
		"429": obj{"description": "too many failed authentications from this address, or too many requests with this token; " +
			"the Retry-After header says when to retry", "content": obj{"application/json": obj{"schema": ref("Error")}}},
		"503": obj{"description": "PostgreSQL or Temporal is unavailable or did not answer within the request deadline; " +
			"the Retry-After header says when to retry",
			"content": obj{"application/json": obj{"schema": ref("Error")}}},
	}
	if hasBody {
		r["413"] = obj{"description": "body larger than the limit", "content": obj{"application/json": obj{"schema": ref("Error")}}}
		r["415"] = obj{"description": "body is not JSON", "content": obj{"application/json": obj{"schema": ref("Error")}}}
		r["422"] = obj{"description": "invalid fields, named in error.fields", "content": obj{"application/json": obj{"schema": ref("Error")}}}
	}
	return r
}

// OpenAPIDocument builds the OpenAPI 3 description of the REST API.
func OpenAPIDocument() obj {
	paths := obj{}
	for _, r := range apiRoutes {
		op := obj{"summary": r.summary, "security": []obj{{"bearer": []string{}}}, "x-required-scope": r.scope}
		params := append([]obj{}, r.params...)
		for _, seg := range strings.Split(r.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, pathParam(strings.Trim(seg, "{}"), "resource id"))
			}
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.body != nil {
			ct := r.bodyType
			if ct == "" {
				ct = "application/json"
			}
			op["requestBody"] = obj{"required": true, "content": obj{ct: obj{"schema": r.body}}}
		}
		resps := errorResponses(r.scope, r.body != nil)
		if strings.Contains(r.path, "{") {
			resps["404"] = obj{"description": "not found", "content": obj{"application/json": obj{"schema": ref("Error")}}}
		}
		ok := obj{"description": "success"}
		if r.resp != nil {
			ok["content"] = obj{"application/json": obj{"schema": r.resp}}
		}
		resps[r.status] = ok
		op["responses"] = resps
		p, _ := paths["/api/v1"+r.path].(obj)
		if p == nil {
			p = obj{}
			paths["/api/v1"+r.path] = p
		}
		p[r.method] = op
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "Infrastructor API", "version": "1",
			"description": "Agentless monitoring and Docker management for Linux fleets. Every /api/v1 route needs " +
				"Authorization: Bearer <token>; scopes are read < operate < admin. Errors use one envelope: " +
				`{"error":{"code","message","fields"}}.`},
		"servers":    []obj{{"url": "/"}},
		"paths":      paths,
		"components": obj{"schemas": schemas, "securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}}},
	}
}

func (s *Server) openapi(c *fiber.Ctx) error { return c.JSON(OpenAPIDocument()) }
