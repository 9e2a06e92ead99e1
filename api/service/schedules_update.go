package service

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"

	"github.com/infrastructor/infrastructor/internal/store"
)

// ScheduleUpdate is the body of PATCH /schedules/{id}: the fields present replace the stored ones; spec and
// action are replaced as a whole. Pausing has its own operations.
type ScheduleUpdate struct {
	Name    *string
	Spec    *store.ScheduleSpec
	Action  *store.ScheduleAction
	Overlap *string
}

// UpdateSchedule edits a user schedule with the validation of CreateSchedule. The stored row changes in a
// transaction that commits only once Temporal accepted the new spec and overlap policy, so a spec Temporal
// refuses (a cron expression or time zone it cannot parse) changes nothing and answers 422 on spec. The action
// needs no Temporal change: ScheduledActionWorkflow reads it from the store when it runs. Errors are *Error
// values ready for the envelope (404, 409 name taken, 422, 503 no Temporal). The MCP layer can share it with
// REST; callers audit the request themselves.
func (s *Service) UpdateSchedule(ctx context.Context, id uuid.UUID, up ScheduleUpdate) (*ScheduleView, error) {
	old, err := store.GetUserSchedule(ctx, s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("schedule")
	} else if err != nil {
		return nil, err
	}
	sc, err := s.Scheduler()
	if err != nil {
		return nil, err
	}
	req := ScheduleRequest{Name: old.Name, Spec: old.Spec, Action: old.Action, Overlap: old.Overlap, Paused: old.Paused}
	if up.Name != nil {
		req.Name = *up.Name
	}
	if up.Spec != nil {
		req.Spec = *up.Spec
	}
	if up.Action != nil {
		req.Action = *up.Action
	}
	if up.Overlap != nil {
		req.Overlap = *up.Overlap
	}
	opts, bad := s.validateSchedule(ctx, &req)
	if len(bad) > 0 {
		return nil, Invalid(bad)
	}
	opts.ID = id.String()
	temporalChanged := req.Spec != old.Spec || req.Overlap != old.Overlap

	var out *store.UserSchedule
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		out, err = store.UpdateUserSchedule(ctx, tx, &store.UserSchedule{ID: id, Name: req.Name, Spec: req.Spec,
			Action: req.Action, Overlap: req.Overlap})
		if err != nil || !temporalChanged {
			return err
		}
		return sc.UpdateUserSchedule(ctx, opts)
	})
	var ia *serviceerror.InvalidArgument
	switch {
	case err == nil:
	case errors.Is(err, store.ErrConflict):
		return nil, Errorf(http.StatusConflict, "conflict", "a schedule named "+req.Name+" already exists")
	case errors.Is(err, store.ErrNotFound):
		return nil, NotFound("schedule")
	case errors.As(err, &ia):
		return nil, Invalid(map[string]string{"spec": "Temporal rejected the schedule: " + ia.Message})
	default:
		if temporalChanged {
			s.restoreTemporalSchedule(ctx, old)
		}
		return nil, err
	}
	v := s.ScheduleView(ctx, out)
	return &v, nil
}

// restoreTemporalSchedule puts the stored spec and overlap policy back on the Temporal schedule after the store
// update failed (the commit, after Temporal had accepted), so the two keep agreeing. Best effort: it is logged.
func (s *Service) restoreTemporalSchedule(ctx context.Context, old *store.UserSchedule) {
	sc, err := s.Scheduler()
	if err != nil {
		return
	}
	req := ScheduleRequest{Name: old.Name, Spec: old.Spec, Action: old.Action, Overlap: old.Overlap, Paused: old.Paused}
	opts, _ := s.validateSchedule(ctx, &req)
	opts.ID = old.ID.String()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := sc.UpdateUserSchedule(rctx, opts); err != nil {
		s.Log.Error("restore schedule after a failed update", "schedule", old.ID, "err", err)
	}
}
