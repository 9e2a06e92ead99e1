package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// maxWatchedUnits bounds a watch list (per device or tag): the services collection asks systemctl about all of a
// device's watched units in one call of at most systemd.MaxShowUnits.
const maxWatchedUnits = systemd.MaxShowUnits

// serviceRoutes registers systemd units, watch lists and top processes (#12).
func (s *Server) serviceRoutes(v1 fiber.Router) {
	read, operate, admin := require(store.ScopeRead), require(store.ScopeOperate), require(store.ScopeAdmin)
	v1.Get("/devices/:id/services", read, s.listServices)
	v1.Post("/devices/:id/services/:unit/actions", operate, s.serviceAction)
	v1.Get("/devices/:id/watched-units", read, s.getDeviceWatchedUnits)
	v1.Put("/devices/:id/watched-units", admin, s.putDeviceWatchedUnits)
	v1.Get("/watched-units/tags", read, s.listTagWatchedUnits)
	v1.Put("/watched-units/tags/:tag", admin, s.putTagWatchedUnits)
	v1.Get("/devices/:id/processes", read, s.topProcesses)
	v1.Get("/devices/:id/processes/snapshot", read, s.processSnapshot)
}

func (s *Server) listServices(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	v, err := s.ServicesOf(c.UserContext(), d)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// validateUnits checks a watch list with systemd's unit-name grammar, completing bare names with ".service".
func validateUnits(field string, units []string) ([]string, map[string]string) {
	if len(units) > maxWatchedUnits {
		return nil, map[string]string{field: fmt.Sprintf("must have at most %d units", maxWatchedUnits)}
	}
	out := make([]string, 0, len(units))
	for i, u := range units {
		n, err := systemd.NormalizeUnit(field, u)
		if err != nil {
			var ae *systemd.ArgError
			msg := "must be a systemd unit name such as nginx or nginx.service"
			if errors.As(err, &ae) {
				msg = fmt.Sprintf("unit %d (%q): %s", i+1, clipField(u), ae.Reason)
			}
			return nil, map[string]string{field: msg}
		}
		out = append(out, n)
	}
	return out, nil
}

func clipField(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// watchedUnitsField decodes a device's "watched_units" (null clears it).
func watchedUnitsField(fd *fieldDecoder, d *store.Device) {
	var units []string
	if fd.get("watched_units", &units, "a list of unit names") {
		units, bad := validateUnits("watched_units", units)
		for f, msg := range bad {
			fd.fail(f, msg)
		}
		d.WatchedUnits = units
	} else if fd.isNull["watched_units"] {
		d.WatchedUnits = []string{}
	}
}

// decodeUnits reads {"units": [...]} and validates it.
func decodeUnits(c *fiber.Ctx) ([]string, error) {
	raw, err := decodeObject(c)
	if err != nil {
		return nil, err
	}
	fd := newFieldDecoder(raw)
	var units []string
	if !fd.get("units", &units, "a list of unit names") && !fd.isNull["units"] {
		fd.fail("units", "is required (an empty list clears it)")
	}
	if err := fd.finish(); err != nil {
		return nil, err
	}
	units, bad := validateUnits("units", units)
	if bad != nil {
		return nil, service.Invalid(bad)
	}
	return units, nil
}

func (s *Server) getDeviceWatchedUnits(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	own, err := store.DeviceWatchedUnits(c.UserContext(), s.Pool, d.ID)
	if err != nil {
		return err
	}
	all, err := store.WatchedUnits(c.UserContext(), s.Pool, d.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "units": own, "effective": all})
}

func (s *Server) putDeviceWatchedUnits(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	units, err := decodeUnits(c)
	if err != nil {
		return err
	}
	setAudit(c, "device.watched_units", "device/"+d.ID.String(), map[string]any{"units": units})
	if err := store.SetDeviceWatchedUnits(c.UserContext(), s.Pool, d.ID, units); err != nil {
		return err
	}
	return s.getDeviceWatchedUnits(c)
}

func (s *Server) listTagWatchedUnits(c *fiber.Ctx) error {
	m, err := store.TagWatchedUnits(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	tags := slices.Sorted(maps.Keys(m))
	items := make([]fiber.Map, 0, len(tags))
	for _, tag := range tags {
		items = append(items, fiber.Map{"tag": tag, "units": m[tag]})
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) putTagWatchedUnits(c *fiber.Ctx) error {
	tag := c.Params("tag")
	if _, bad := service.ValidateTags([]string{tag}); bad != "" {
		return service.Invalid(map[string]string{"tag": bad})
	}
	tag = string([]byte(tag)) // Fiber reuses the buffer behind params
	units, err := decodeUnits(c)
	if err != nil {
		return err
	}
	setAudit(c, "tag.watched_units", "tag/"+tag, map[string]any{"units": units})
	if err := store.SetTagWatchedUnits(c.UserContext(), s.Pool, tag, units); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tag": tag, "units": units})
}

// processQuery validates sort and limit, naming the bad field.
func processQuery(sortArg, limitArg string) (process.Sort, int, error) {
	fields := map[string]string{}
	srt, err := process.ParseSort(sortArg)
	if err != nil {
		fields["sort"] = "must be cpu or memory"
	}
	limit := 0
	if limitArg != "" {
		n, err := strconv.Atoi(limitArg)
		if err != nil {
			fields["limit"] = fmt.Sprintf("must be a number from 1 to %d", process.MaxLimit)
		} else if limit, err = process.NormalizeLimit(n); err != nil || n == 0 {
			fields["limit"] = fmt.Sprintf("must be a number from 1 to %d", process.MaxLimit)
		}
	} else {
		limit = process.DefaultLimit
	}
	if len(fields) > 0 {
		return "", 0, service.Invalid(fields)
	}
	return srt, limit, nil
}

func (s *Server) topProcesses(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	srt, limit, err := processQuery(c.Query("sort"), c.Query("limit"))
	if err != nil {
		return err
	}
	l, err := s.FetchProcesses(c.UserContext(), d, srt, limit)
	if err != nil {
		return err
	}
	items := l.ByCPU
	if srt == process.ByMemory {
		items = l.ByMemory
	}
	if items == nil {
		items = []process.Process{}
	}
	s.AuditRead(tokenOf(c), c.IP(), service.AuditReadProcesses, "device/"+d.ID.String()+"/processes",
		map[string]any{"interface": "rest", "sort": srt, "limit": limit, "processes": len(items)})
	return c.JSON(fiber.Map{"device_id": d.ID, "sort": srt, "source": l.Source, "items": items, "truncated": l.Truncated})
}

func (s *Server) processSnapshot(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	snap, err := store.LatestProcessSnapshot(c.UserContext(), s.Pool, d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("process snapshot of device " + d.Name)
	}
	if err != nil {
		return err
	}
	var l activities.ProcessListing
	if err := json.Unmarshal(snap.Body, &l); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "taken_at": snap.TakenAt, "source": l.Source, "by_cpu": orEmpty(l.ByCPU),
		"by_memory": orEmpty(l.ByMemory), "truncated": l.Truncated})
}

func orEmpty(p []process.Process) []process.Process {
	if p == nil {
		return []process.Process{}
	}
	return p
}

// serviceActionRequest is the body of POST .../services/{unit}/actions.
type serviceActionRequest struct {
	Action string `json:"action"`
	// Timeout is how many seconds the unit may take to settle (default 90).
	Timeout *int `json:"timeout"`
}

// serviceAction starts a durable service operation (DeviceOperation, kind service) on one unit: 202 with the
// operation, or its result with ?wait=; 409 while another runs on the same unit.
func (s *Server) serviceAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	raw, err := url.PathUnescape(c.Params("unit"))
	if err != nil {
		return service.Invalid(map[string]string{"unit": "must be a URL-escaped unit name"})
	}
	unit, err := systemd.NormalizeUnit("unit", raw)
	if err != nil {
		return service.Invalid(map[string]string{"unit": "must be a systemd unit name such as nginx or nginx.service: " +
			err.(*systemd.ArgError).Reason})
	}
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	fd := newFieldDecoder(body)
	var req serviceActionRequest
	if !fd.get("action", &req.Action, "a string") {
		fd.fail("action", "is required: start, stop, restart or reload")
	} else if _, err := systemd.ParseAction(req.Action); err != nil {
		fd.fail("action", "must be start, stop, restart or reload")
	}
	var timeout int
	if fd.get("timeout", &timeout, "a number of seconds") {
		req.Timeout = &timeout
	}
	if err := fd.finish(); err != nil {
		return err
	}
	wait, err := parseWait(c)
	if err != nil {
		return err
	}
	in := activities.DeviceOpInput{Kind: activities.OpKindService, Target: unit, Action: req.Action}
	if req.Timeout != nil {
		in.Params = map[string]string{"timeout": strconv.Itoa(*req.Timeout)}
	}
	setAudit(c, "service."+req.Action, "device/"+d.ID.String()+"/service/"+unit, map[string]any{"action": req.Action,
		"timeout": req.Timeout})
	op, err := s.StartDeviceOperation(c.UserContext(), tokenOf(c), d, in)
	if op != nil {
		setAuditWorkflow(c, op.WorkflowID)
	}
	if err != nil {
		return err
	}
	return s.answerOperation(c, op, wait)
}
