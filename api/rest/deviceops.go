package rest

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/store"
)

// DeviceOperationRequest is the body of POST /devices/{id}/operations: any device operation kind by name. The
// routes of each feature (pool scrubs, drive self-tests, service and VM actions) are shorthands for it.
type DeviceOperationRequest struct {
	Kind   string            `json:"kind"`
	Target string            `json:"target"`
	Action string            `json:"action"`
	Params map[string]string `json:"params,omitempty"`
}

// deviceOperation starts a device operation of any kind.
func (s *Server) deviceOperation(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var req DeviceOperationRequest
	fd := newFieldDecoder(raw)
	for _, f := range []struct {
		name string
		dst  *string
	}{{"kind", &req.Kind}, {"action", &req.Action}} {
		if !fd.get(f.name, f.dst, "a string") && fd.errs[f.name] == "" {
			fd.fail(f.name, "is required")
		}
	}
	fd.get("target", &req.Target, "a string")
	fd.get("params", &req.Params, "an object of strings")
	if err := fd.finish(); err != nil {
		return err
	}
	return s.runDeviceAction(c, d, activities.DeviceOpInput{Kind: req.Kind, Target: req.Target,
		Action: req.Action, Params: req.Params})
}

// runDeviceAction answers a REST request for a device operation: audited as "<kind>.<action>" on the target,
// started, then answered like container actions (202 with the operation, or 200 once it finished within
// ?wait=). Feature routes decode their own bodies and call it.
func (s *Server) runDeviceAction(c *fiber.Ctx, d *store.Device, in activities.DeviceOpInput) error {
	wait, err := parseWait(c)
	if err != nil {
		return err
	}
	target := "device/" + d.ID.String() + "/" + in.Kind
	if in.Target != "" {
		target += "/" + in.Target
	}
	detail := map[string]any{"action": in.Action}
	if len(in.Params) > 0 {
		detail["params"] = in.Params
	}
	setAudit(c, strings.TrimSuffix(in.Kind+"."+in.Action, "."), target, detail)
	op, err := s.StartDeviceOperation(c.UserContext(), tokenOf(c), d, in)
	if op != nil {
		setAuditWorkflow(c, op.WorkflowID)
	}
	if err != nil {
		return err
	}
	return s.answerOperation(c, op, wait)
}

// deviceOpAPIRoutes are the OpenAPI entries of the generic device operation route.
var deviceOpAPIRoutes = []route{
	{method: "post", path: "/devices/{id}/operations", summary: "Run a device operation of any kind (zfs_scrub, smart_selftest, " +
		"service, vm, package_lists ...) as a durable operation: precheck, act, verify (following long jobs with progress), " +
		"record; one at a time per device, kind and target (409 names the running one)", scope: "operate", body: ref("DeviceOperation"),
		params: []obj{query("wait", `wait up to this long (e.g. "30s", at most 5m) and answer 200 with the finished operation`, "string")},
		status: "202", resp: ref("Operation")},
}

func init() {
	apiRoutes = append(apiRoutes, deviceOpAPIRoutes...)
	schemas["DeviceOperation"] = obj{"type": "object", "required": []string{"kind", "action"}, "properties": obj{
		"kind": str("the operation kind"), "target": str("what it acts on: a pool, a drive serial, a unit, a VM (kind-specific)"),
		"action": str("the kind's action"), "params": obj{"type": "object", "additionalProperties": obj{"type": "string"},
			"description": "the kind's options"}}}
}
