package service

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
	UpdateUserSchedule(ctx context.Context, o workflows.UserScheduleOptions) error
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

// Scheduler is the client of user schedules, or a 503 when this server has no Temporal client.
func (s *Service) Scheduler() (Scheduler, error) {
	if s.Workflows == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "unavailable", "schedules are not available on this server")
	}
	return s.Workflows, nil
}

// ListSchedules returns every user schedule with Temporal's view of it. The MCP layer shares it with REST.
func (s *Service) ListSchedules(ctx context.Context) ([]ScheduleView, error) {
	all, err := store.ListUserSchedules(ctx, s.Pool)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleView, 0, len(all))
	for _, us := range all {
		out = append(out, s.ScheduleView(ctx, us))
	}
	return out, nil
}

// ScheduleView is us with a link to its schedule in the Temporal UI and Temporal's view of it, which is left out
// (and logged) when Temporal does not answer.
func (s *Service) ScheduleView(ctx context.Context, us *store.UserSchedule) ScheduleView {
	v := ScheduleView{UserSchedule: us, TemporalUI: s.Config.TemporalUIURL + "/namespaces/" + s.Config.TemporalNamespace +
		"/schedules/" + url.PathEscape(workflows.UserScheduleID(us.ID.String()))}
	if sc, err := s.Scheduler(); err == nil {
		if info, err := sc.DescribeUserSchedule(ctx, us.ID.String()); err == nil {
			v.Temporal = info
		} else {
			s.Log.Warn("describe schedule", "schedule", us.ID, "err", err)
		}
	}
	return v
}

// CreateSchedule validates and stores a user schedule, then creates its Temporal schedule. Errors are *Error
// values ready for the envelope (422 invalid, 409 name taken, 503 no Temporal). The MCP layer shares it with
// REST. req.Action.StopOnFailure is taken as given (REST sets it to true when the body leaves it out); callers
// audit the request themselves.
func (s *Service) CreateSchedule(ctx context.Context, req ScheduleRequest) (*ScheduleView, error) {
	sc, err := s.Scheduler()
	if err != nil {
		return nil, err
	}
	opts, bad := s.validateSchedule(ctx, &req)
	if len(bad) > 0 {
		return nil, Invalid(bad)
	}
	us, err := store.CreateUserSchedule(ctx, s.Pool, &store.UserSchedule{Name: req.Name, Spec: req.Spec, Action: req.Action,
		Overlap: req.Overlap, Paused: req.Paused})
	if errors.Is(err, store.ErrConflict) {
		return nil, Errorf(http.StatusConflict, "conflict", "a schedule named "+req.Name+" already exists")
	}
	if err != nil {
		return nil, err
	}
	opts.ID = us.ID.String()
	if err := sc.CreateUserSchedule(ctx, opts); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = store.DeleteUserSchedule(dctx, s.Pool, us.ID)
		var ia *serviceerror.InvalidArgument
		if errors.As(err, &ia) {
			return nil, Invalid(map[string]string{"spec": "Temporal rejected the schedule: " + ia.Message})
		}
		return nil, err
	}
	v := s.ScheduleView(ctx, us)
	return &v, nil
}

// validateSchedule checks a schedule request and fills defaults.
func (s *Service) validateSchedule(ctx context.Context, req *ScheduleRequest) (workflows.UserScheduleOptions, map[string]string) {
	bad := map[string]string{}
	o := workflows.UserScheduleOptions{TimeZone: req.Spec.TimeZone, Paused: req.Paused}
	if msg := ValidateName(req.Name); msg != "" {
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
		} else if dev, err := store.GetDevice(ctx, s.Pool, id); err != nil {
			bad["action.device_id"] = "no such device"
		} else if dev.ReadOnly {
			// Every firing would be refused: say so now rather than fail nightly.
			bad["action.device_id"] = "device " + dev.Name + " is read-only: operations on it are refused"
		}
	} else if _, msg := ValidateTags([]string{a.Tag}); msg != "" {
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
		if !slices.Contains(activities.ContainerActions, a.Action) || op.Validate() != nil {
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

// TriggerSchedule runs a schedule now. The MCP layer shares it with REST.
func (s *Service) TriggerSchedule(ctx context.Context, id uuid.UUID) error {
	if _, err := store.GetUserSchedule(ctx, s.Pool, id); errors.Is(err, store.ErrNotFound) {
		return NotFound("schedule")
	} else if err != nil {
		return err
	}
	sc, err := s.Scheduler()
	if err != nil {
		return err
	}
	return sc.TriggerUserSchedule(ctx, id.String())
}
