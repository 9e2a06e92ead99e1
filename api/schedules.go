package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/zfs"
	"github.com/infrastructor/infrastructor/workflows"
)

// Scheduler manages the Temporal schedules of user schedules (workflows.Client in production); part of Workflows.
type Scheduler interface {
	CreateUserSchedule(ctx context.Context, o workflows.UserScheduleOptions) error
	DescribeUserSchedule(ctx context.Context, id string) (*workflows.ScheduleInfo, error)
	PauseUserSchedule(ctx context.Context, id string, pause bool, note string) error
	TriggerUserSchedule(ctx context.Context, id string) error
	DeleteUserSchedule(ctx context.Context, id string) error
}

// ScheduleRequest is the body of POST /schedules.
type ScheduleRequest struct {
	Name    string               `json:"name"`
	Spec    store.ScheduleSpec   `json:"spec"`
	Action  store.ScheduleAction `json:"action"`
	Overlap string               `json:"overlap,omitempty"`
	Paused  bool                 `json:"paused,omitempty"`
}

// ScheduleView is a schedule as the API shows it: the stored definition, Temporal's view of it (next runs,
// paused) and its latest runs.
type ScheduleView struct {
	*store.UserSchedule
	Temporal   *workflows.ScheduleInfo `json:"temporal"`
	TemporalUI string                  `json:"temporal_ui"`
	Runs       []*store.ScheduleRun    `json:"runs,omitempty"`
}

// scheduleRoutes registers user schedules: admin creates and deletes, operate pauses, resumes and triggers.
func (s *Server) scheduleRoutes(v1 fiber.Router) {
	read, operate, admin := require(store.ScopeRead), require(store.ScopeOperate), require(store.ScopeAdmin)
	v1.Get("/schedules", read, s.listSchedules)
	v1.Post("/schedules", admin, s.createSchedule)
	v1.Get("/schedules/:id", read, s.getSchedule)
	v1.Delete("/schedules/:id", admin, s.deleteSchedule)
	v1.Post("/schedules/:id/pause", operate, s.pauseSchedule)
	v1.Post("/schedules/:id/resume", operate, s.resumeSchedule)
	v1.Post("/schedules/:id/trigger", operate, s.triggerSchedule)
	v1.Get("/schedules/:id/runs", read, s.scheduleRuns)
}

func (s *Server) scheduler() (Scheduler, error) {
	if s.wf == nil {
		return nil, errorf(http.StatusServiceUnavailable, "unavailable", "schedules are not available on this server")
	}
	return s.wf, nil
}

// ListSchedules returns every user schedule with Temporal's view of it. The MCP layer shares it with REST.
func (s *Server) ListSchedules(ctx context.Context) ([]ScheduleView, error) {
	all, err := store.ListUserSchedules(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleView, 0, len(all))
	for _, us := range all {
		out = append(out, s.scheduleView(ctx, us))
	}
	return out, nil
}

func (s *Server) scheduleView(ctx context.Context, us *store.UserSchedule) ScheduleView {
	v := ScheduleView{UserSchedule: us, TemporalUI: s.cfg.TemporalUIURL + "/namespaces/" + s.cfg.TemporalNamespace +
		"/schedules/" + url.PathEscape(workflows.UserScheduleID(us.ID.String()))}
	if sc, err := s.scheduler(); err == nil {
		if info, err := sc.DescribeUserSchedule(ctx, us.ID.String()); err == nil {
			v.Temporal = info
		} else {
			s.log.Warn("describe schedule", "schedule", us.ID, "err", err)
		}
	}
	return v
}

func (s *Server) listSchedules(c *fiber.Ctx) error {
	out, err := s.ListSchedules(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(page(out, nil))
}

// CreateSchedule validates and stores a user schedule, then creates its Temporal schedule. Errors are *Error
// values ready for the envelope (422 invalid, 409 name taken, 503 no Temporal). The MCP layer shares it with
// REST. req.Action.StopOnFailure is taken as given (REST sets it to true when the body leaves it out); callers
// audit the request themselves.
func (s *Server) CreateSchedule(ctx context.Context, req ScheduleRequest) (*ScheduleView, error) {
	sc, err := s.scheduler()
	if err != nil {
		return nil, err
	}
	opts, bad := s.validateSchedule(ctx, &req)
	if len(bad) > 0 {
		return nil, invalid(bad)
	}
	us, err := store.CreateUserSchedule(ctx, s.pool, &store.UserSchedule{Name: req.Name, Spec: req.Spec, Action: req.Action,
		Overlap: req.Overlap, Paused: req.Paused})
	if errors.Is(err, store.ErrConflict) {
		return nil, errorf(http.StatusConflict, "conflict", "a schedule named "+req.Name+" already exists")
	}
	if err != nil {
		return nil, err
	}
	opts.ID = us.ID.String()
	if err := sc.CreateUserSchedule(ctx, opts); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = store.DeleteUserSchedule(dctx, s.pool, us.ID)
		var ia *serviceerror.InvalidArgument
		if errors.As(err, &ia) {
			return nil, invalid(map[string]string{"spec": "Temporal rejected the schedule: " + ia.Message})
		}
		return nil, err
	}
	v := s.scheduleView(ctx, us)
	return &v, nil
}

// validateSchedule checks a schedule request and fills defaults.
func (s *Server) validateSchedule(ctx context.Context, req *ScheduleRequest) (workflows.UserScheduleOptions, map[string]string) {
	bad := map[string]string{}
	o := workflows.UserScheduleOptions{TimeZone: req.Spec.TimeZone, Paused: req.Paused}
	if msg := validateName(req.Name); msg != "" {
		bad["name"] = msg
	}
	sp := req.Spec
	switch {
	case (sp.Cron == "") == (sp.Every == ""):
		bad["spec"] = `give exactly one of cron (e.g. "0 3 * * *") and every (e.g. "6h")`
	case sp.Cron != "":
		if n := len(strings.Fields(sp.Cron)); n < 5 || n > 7 {
			bad["spec.cron"] = "must be a cron expression of 5 to 7 fields"
		}
		o.Cron = sp.Cron
	default:
		d, err := time.ParseDuration(sp.Every)
		if err != nil || d < time.Minute {
			bad["spec.every"] = `must be a duration of at least 1m, e.g. "6h"`
		}
		o.Every = d
		if sp.Offset != "" {
			off, err := time.ParseDuration(sp.Offset)
			if err != nil || off < 0 || off >= d {
				bad["spec.offset"] = "must be a duration shorter than every"
			}
			o.Offset = off
		}
	}
	if sp.TimeZone != "" {
		if _, err := time.LoadLocation(sp.TimeZone); err != nil {
			bad["spec.time_zone"] = "must be an IANA time zone such as Europe/Berlin"
		}
	}
	switch req.Overlap {
	case "":
		req.Overlap = "skip"
	case "skip", "buffer_one", "allow_all", "cancel_other":
	default:
		bad["overlap"] = "must be skip, buffer_one, allow_all or cancel_other"
	}
	o.Overlap = req.Overlap

	a := &req.Action
	if (a.DeviceID == "") == (a.Tag == "") {
		bad["action.device_id"] = "give exactly one of device_id and tag"
	} else if a.DeviceID != "" {
		id, err := uuid.Parse(a.DeviceID)
		if err != nil {
			bad["action.device_id"] = "no such device"
		} else if dev, err := store.GetDevice(ctx, s.pool, id); err != nil {
			bad["action.device_id"] = "no such device"
		} else if dev.ReadOnly {
			// Every firing would be refused: say so now rather than fail nightly.
			bad["action.device_id"] = "device " + dev.Name + " is read-only: operations on it are refused"
		}
	} else if _, msg := validateTags([]string{a.Tag}); msg != "" {
		bad["action.tag"] = msg
	}
	if a.Concurrency == 0 {
		a.Concurrency = 1
	}
	if a.Concurrency < 1 || a.Concurrency > 50 {
		bad["action.concurrency"] = "must be between 1 and 50"
	}
	switch a.Type {
	case store.ScheduleContainer:
		if docker.ValidRef(a.Container) != nil {
			bad["action.container"] = "must be a container name"
		}
		op := activities.ContainerOpInput{DeviceID: uuid.Nil.String(), Ref: a.Container, Action: a.Action}
		if !contains(activities.ContainerActions, a.Action) || op.Validate() != nil {
			bad["action.action"] = "must be one of " + strings.Join(activities.ContainerActions, ", ")
		}
		a.Project = ""
	case store.ScheduleComposeUpdate:
		switch {
		case a.Project == "" && a.OnlyWithUpdates:
			// Every compose project of the device that has image updates at run time.
		case docker.ValidProject(a.Project) != nil:
			bad["action.project"] = "must be a compose project name (or left out with only_with_updates: every project with image updates)"
		}
		a.Container, a.Action = "", ""
	case store.ScheduleImagePrune:
		a.Container, a.Action, a.Project = "", "", ""
	case store.ScheduleZFSScrub:
		if a.Pool != "*" && zfs.ValidPoolName(a.Pool) != nil {
			bad["action.pool"] = `must be a pool name, or "*" for every pool of the device`
		}
		a.Container, a.Action, a.Project = "", "", ""
	default:
		bad["action.type"] = "must be container, compose_update, image_prune or zfs_scrub"
	}
	if a.Type != store.ScheduleZFSScrub {
		a.Pool = ""
	}
	if a.OnlyWithUpdates && a.Type != store.ScheduleComposeUpdate {
		bad["action.only_with_updates"] = "applies to type compose_update only"
	}
	return o, bad
}

func (s *Server) createSchedule(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var req ScheduleRequest
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
	id, err := parseID(c, "schedule")
	if err != nil {
		return nil, err
	}
	us, err := store.GetUserSchedule(c.UserContext(), s.pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("schedule")
	}
	return us, err
}

func (s *Server) getSchedule(c *fiber.Ctx) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	v := s.scheduleView(c.UserContext(), us)
	if v.Runs, err = store.ListScheduleRuns(c.UserContext(), s.pool, us.ID, 10); err != nil {
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
	runs, err := store.ListScheduleRuns(c.UserContext(), s.pool, us.ID, limit)
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
	sc, err := s.scheduler()
	if err != nil {
		return err
	}
	setAudit(c, "schedule.delete", us.ID.String(), map[string]any{"name": us.Name})
	if err := sc.DeleteUserSchedule(c.UserContext(), us.ID.String()); err != nil {
		return err
	}
	if err := store.DeleteUserSchedule(c.UserContext(), s.pool, us.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) pauseSchedule(c *fiber.Ctx) error  { return s.setPaused(c, true) }
func (s *Server) resumeSchedule(c *fiber.Ctx) error { return s.setPaused(c, false) }

func (s *Server) setPaused(c *fiber.Ctx, pause bool) error {
	us, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	sc, err := s.scheduler()
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
	if err := store.SetUserSchedulePaused(c.UserContext(), s.pool, us.ID, pause); err != nil {
		return err
	}
	us.Paused = pause
	return c.JSON(s.scheduleView(c.UserContext(), us))
}

// TriggerSchedule runs a schedule now. The MCP layer shares it with REST.
func (s *Server) TriggerSchedule(ctx context.Context, id uuid.UUID) error {
	if _, err := store.GetUserSchedule(ctx, s.pool, id); errors.Is(err, store.ErrNotFound) {
		return notFound("schedule")
	} else if err != nil {
		return err
	}
	sc, err := s.scheduler()
	if err != nil {
		return err
	}
	return sc.TriggerUserSchedule(ctx, id.String())
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
