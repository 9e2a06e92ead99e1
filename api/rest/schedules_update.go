package rest

import (
	"encoding/json"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// updateSchedule changes some of name, spec, action and overlap of a schedule (#14); spec and action are replaced
// as a whole, and an action without stop_on_failure stops at its first failure, as on creation.
func (s *Server) updateSchedule(c *fiber.Ctx) error {
	id, err := parseID(c, "schedule")
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var up service.ScheduleUpdate
	d := newFieldDecoder(raw)
	var name, overlap string
	if d.get("name", &name, "a string") {
		up.Name = &name
	}
	if _, ok := raw["spec"]; ok {
		up.Spec = &store.ScheduleSpec{}
		strict(d, raw, "spec", up.Spec, `an object with cron or every, and offset, time_zone`)
	}
	if _, ok := raw["action"]; ok {
		up.Action = &store.ScheduleAction{StopOnFailure: true}
		strict(d, raw, "action", up.Action, `an object with type, device_id or tag, container, action, project, only_with_updates, pool, concurrency, stop_on_failure`)
	}
	if d.get("overlap", &overlap, "a string") {
		up.Overlap = &overlap
	}
	if err := d.finish(); err != nil {
		return err
	}
	setAudit(c, "schedule.update", id.String(), fieldNames(raw))
	setAuditWorkflow(c, workflows.UserScheduleID(id.String()))
	v, err := s.UpdateSchedule(c.UserContext(), id, up)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// fieldNames is the audit detail of a partial update: which fields it set (their values may be long).
func fieldNames(raw map[string]json.RawMessage) map[string]any {
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names)
	return map[string]any{"fields": names}
}
