package api

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
	{method: "get", path: "/tokens", summary: "List API tokens (never their secrets)", scope: "admin", status: "200", resp: listOf("Token")},
	{method: "post", path: "/tokens", summary: "Create an API token; the secret is returned once", scope: "admin",
		body: ref("TokenInput"), status: "201", resp: ref("TokenCreated")},
	{method: "delete", path: "/tokens/{id}", summary: "Revoke an API token", scope: "admin", status: "200", resp: ref("Token")},
	{method: "get", path: "/audit", summary: "Read the audit log, newest first", scope: "admin", status: "200", resp: listOf("AuditRecord"),
		params: append([]obj{query("action", "only this action, e.g. device.create", "string"),
			query("target", "only this target, e.g. device/<id>", "string")}, pageParamsDoc...)},
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
		"enabled":       obj{"type": "boolean", "default": true}, "jump_host": obj{"type": "string", "nullable": true, "description": "[user@]host[:port]"},
		"host_key_policy": obj{"type": "string", "enum": []string{"require_approval", "trust_first_use"}, "default": "require_approval"}}},
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
		"scopes":     obj{"type": "array", "items": obj{"type": "string", "enum": []string{"read", "operate", "admin"}}},
		"expires_at": obj{"type": "string", "format": "date-time", "nullable": true}}},
	"Token": obj{"type": "object", "properties": obj{"id": obj{"type": "string", "format": "uuid"}, "name": str("label"),
		"scopes": obj{"type": "array", "items": obj{"type": "string"}}, "prefix": str("first characters of the secret"),
		"created_at": obj{"type": "string", "format": "date-time"}, "expires_at": obj{"type": "string", "format": "date-time", "nullable": true},
		"revoked_at": obj{"type": "string", "format": "date-time", "nullable": true}, "last_used_at": obj{"type": "string", "format": "date-time", "nullable": true}}},
	"TokenCreated": obj{"allOf": []obj{ref("Token"), {"type": "object", "properties": obj{"token": str("the secret, shown only in this response")}}}},
	"AuditRecord": obj{"type": "object", "properties": obj{"id": obj{"type": "integer"}, "time": obj{"type": "string", "format": "date-time"},
		"token_id": obj{"type": "string", "nullable": true}, "token_name": str("token label"), "action": str("e.g. device.create"),
		"target": str("e.g. device/<id>"), "outcome": obj{"type": "string", "enum": []string{"success", "failure", "denied"}},
		"status_code": obj{"type": "integer"}, "workflow_id": obj{"type": "string", "nullable": true}, "remote_addr": str("client address"),
		"detail": obj{"type": "object"}}},
}

func errorResponses(scope string, hasBody bool) obj {
	r := obj{
		"401": obj{"description": "missing, invalid, expired or revoked token", "content": obj{"application/json": obj{"schema": ref("Error")}}},
		"403": obj{"description": "the token lacks scope " + scope, "content": obj{"application/json": obj{"schema": ref("Error")}}},
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
