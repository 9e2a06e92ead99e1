package rest

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// scheduleRoutes registers user schedules: admin creates, edits and deletes, operate pauses, resumes and triggers.
func (s *Server) scheduleRoutes(v1 fiber.Router) {
	read, operate, admin := require(store.ScopeRead), require(store.ScopeOperate), require(store.ScopeAdmin)
	v1.Get("/schedules", read, s.listSchedules)
	v1.Post("/schedules", admin, s.createSchedule)
	v1.Get("/schedules/:id", read, s.getSchedule)
	v1.Patch("/schedules/:id", admin, s.updateSchedule)
	v1.Delete("/schedules/:id", admin, s.deleteSchedule)
	v1.Post("/schedules/:id/pause", operate, s.pauseSchedule)
	v1.Post("/schedules/:id/resume", operate, s.resumeSchedule)
	v1.Post("/schedules/:id/trigger", operate, s.triggerSchedule)
	v1.Get("/schedules/:id/runs", read, s.scheduleRuns)
}

func (s *Server) listSchedules(c *fiber.Ctx) error {
	out, err := s.ListSchedules(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(page(out, nil))
}

func (s *Server) createSchedule(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var req service.ScheduleRequest
	d := newFieldDecoder(raw)
	d.get("name", &req.Name, "a string")
	strict(d, raw, "spec", &req.Spec, `an object with cron or every, and offset, time_zone`)
	strict(d, raw, "action", &req.Action, `an object with type, device_id or tag, container, action, project, only_with_updates, pool, concurrency, stop_on_failure`)
	d.get("overlap", &req.Overlap, "a string")
	d.get("paused", &req.Paused, "a boolean")
	if _, ok := raw["action"]; ok {
		var probe map[string]json.RawMessage
		if json.Unmarshal(raw["action"], &probe) == nil {
			if _, set := probe["stop_on_failure"]; !set {
				req.Action.StopOnFailure = true // the default: a fleet run stops at its first failure
			}
		}
	}
	if err := d.finish(); err != nil {
		return err
	}
	v, err := s.CreateSchedule(c.UserContext(), req)
	if err != nil {
		return err
	}
	setAudit(c, "schedule.create", v.ID.String(), map[string]any{"name": v.Name})
	setAuditWorkflow(c, workflows.UserScheduleID(v.ID.String()))
	return c.Status(http.StatusCreated).JSON(v)
}

func (s *Server) loadSchedule(c *fiber.Ctx) (*store.UserSchedule, error) {
	return load(c, s, "schedule", store.GetUserSchedule)
}

func (s *Server) getSchedule(c *fiber.Ctx) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	v := s.ScheduleView(c.UserContext(), us)
	if v.Runs, err = store.ListScheduleRuns(c.UserContext(), s.Pool, us.ID, 10); err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) scheduleRuns(c *fiber.Ctx) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	limit, _, err := pageParams(c)
	if err != nil {
		return err
	}
	runs, err := store.ListScheduleRuns(c.UserContext(), s.Pool, us.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(page(runs, nil))
}

func (s *Server) deleteSchedule(c *fiber.Ctx) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	sc, err := s.Scheduler()
	if err != nil {
		return err
	}
	setAudit(c, "schedule.delete", us.ID.String(), map[string]any{"name": us.Name})
	if err := sc.DeleteUserSchedule(c.UserContext(), us.ID.String()); err != nil {
		return err
	}
	if err := store.DeleteUserSchedule(c.UserContext(), s.Pool, us.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) pauseSchedule(c *fiber.Ctx) error { return s.setPaused(c, true) }

func (s *Server) resumeSchedule(c *fiber.Ctx) error { return s.setPaused(c, false) }

func (s *Server) setPaused(c *fiber.Ctx, pause bool) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	sc, err := s.Scheduler()
	if err != nil {
		return err
	}
	action := "schedule.resume"
	if pause {
		action = "schedule.pause"
	}
	setAudit(c, action, us.ID.String(), nil)
	note := action
	if tok := tokenOf(c); tok != nil {
		note += " by " + tok.Name
	}
	if err := sc.PauseUserSchedule(c.UserContext(), us.ID.String(), pause, note); err != nil {
		return err
	}
	if err := store.SetUserSchedulePaused(c.UserContext(), s.Pool, us.ID, pause); err != nil {
		return err
	}
	us.Paused = pause
	return c.JSON(s.ScheduleView(c.UserContext(), us))
}

func (s *Server) triggerSchedule(c *fiber.Ctx) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	setAudit(c, "schedule.trigger", us.ID.String(), nil)
	setAuditWorkflow(c, workflows.UserScheduleID(us.ID.String()))
	if err := s.TriggerSchedule(c.UserContext(), us.ID); err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"schedule_id": us.ID, "accepted": "trigger"})
}

// strict decodes an object field refusing unknown keys, so a misspelt option is an error rather than ignored.
func strict(d *fieldDecoder, raw map[string]json.RawMessage, name string, dst any, typeName string) {
	d.seen[name] = true
	v, ok := raw[name]
	if !ok {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		d.fail(name, "must be "+typeName)
	}
}
