package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// ErrTypeScheduleNotFound means the user schedule was deleted; its run has nothing to do.
const ErrTypeScheduleNotFound = "ScheduleNotFound"

// scheduleRunNS derives the IDs of the operations a schedule run creates, so a retried activity creates the
// same ones again instead of duplicates.
var scheduleRunNS = uuid.MustParse("6b1f4c5e-2f1c-4d8e-9a57-6c0f3f8f2a11")

// BeginScheduledRunInput starts one run of a user schedule.
type BeginScheduledRunInput struct {
	ScheduleID string
	WorkflowID string
	// CanSkip says the workflow records targets with Skipped set instead of running them (workflow version
	// scheduleSkipsVersion); a run of older workflow code cannot honour only_with_updates and is refused.
	CanSkip bool `json:",omitempty"`
}

// ScheduleTarget is one device (or one compose project of a device) a run acts on: a container or compose
// operation (Op, already recorded as an operation), an image prune, or nothing, with the reason in Skipped.
type ScheduleTarget struct {
	DeviceID   string
	DeviceName string
	Project    string            `json:",omitempty"`
	Op         *ContainerOpInput `json:",omitempty"`
	Prune      bool              `json:",omitempty"`
	Skipped    string            `json:",omitempty"`
	// DeviceOp is a device operation (a pool scrub), already recorded as an operation.
	DeviceOp *DeviceOpInput `json:",omitempty"`
}

// BeginScheduledRunResult is what the run does.
type BeginScheduledRunResult struct {
	Name          string
	Targets       []ScheduleTarget
	Concurrency   int
	StopOnFailure bool
}

// BeginScheduledRun records the run, resolves its devices (a tag is resolved now, so devices added since the
// schedule was made are included) and records one pending operation per container or compose target.
func (a *Activities) BeginScheduledRun(ctx context.Context, in BeginScheduledRunInput) (*BeginScheduledRunResult, error) {
	id, err := uuid.Parse(in.ScheduleID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad schedule id", ErrTypeInvalidInput, err)
	}
	s, err := store.GetUserSchedule(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("schedule deleted", ErrTypeScheduleNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load schedule %s: %w", id, err)
	}
	if err := store.BeginScheduleRun(ctx, a.DB, id, in.WorkflowID, a.now()); err != nil {
		return nil, fmt.Errorf("record run of schedule %s: %w", s.Name, err)
	}
	devs, err := store.DevicesForTarget(ctx, a.DB, s.Action.DeviceID, s.Action.Tag)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("the schedule's device was deleted", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %s: devices: %w", s.Name, err)
	}
	out := &BeginScheduledRunResult{Name: s.Name, Concurrency: max(1, s.Action.Concurrency), StopOnFailure: s.Action.StopOnFailure}
	if s.Action.OnlyWithUpdates && !in.CanSkip {
		return nil, temporal.NewNonRetryableApplicationError("this run's workflow predates only_with_updates; the next run honours it",
			ErrTypeInvalidInput, nil)
	}
	for _, d := range devs {
		t := ScheduleTarget{DeviceID: d.ID.String(), DeviceName: d.Name}
		switch s.Action.Type {
		case store.ScheduleZFSScrub:
			ts, err := a.scheduledScrubs(ctx, s, d, in.WorkflowID)
			if err != nil {
				return nil, err
			}
			out.Targets = append(out.Targets, ts...)
			continue
		case store.ScheduleImagePrune:
			t.Prune = true
			out.Targets = append(out.Targets, t)
		case store.ScheduleContainer:
			op := &ContainerOpInput{DeviceID: d.ID.String(), Ref: s.Action.Container, Action: s.Action.Action}
			if err := a.recordScheduledOp(ctx, s, in.WorkflowID+"/"+d.ID.String(), d, op, s.Action.Container); err != nil {
				return nil, err
			}
			t.Op = op
			out.Targets = append(out.Targets, t)
		case store.ScheduleComposeUpdate:
			projects := []string{s.Action.Project}
			var updates map[string][]string
			if s.Action.OnlyWithUpdates {
				var all []string
				if updates, all, err = a.composeUpdates(ctx, d.ID); err != nil {
					return nil, fmt.Errorf("schedule %s: image updates of %s: %w", s.Name, d.Name, err)
				}
				if s.Action.Project == "" {
					projects = all
				}
				if len(projects) == 0 {
					t.Skipped = "no compose project with running containers"
					out.Targets = append(out.Targets, t)
				}
			}
			for _, p := range projects {
				t := t
				t.Project = p
				if s.Action.OnlyWithUpdates && len(updates[p]) == 0 {
					t.Skipped = "no image updates for compose project " + p
					out.Targets = append(out.Targets, t)
					continue
				}
				op := &ContainerOpInput{DeviceID: d.ID.String(), Project: p, Action: ActionPull}
				// An unconfirmed directory is left out; the operation's precheck then says what to confirm.
				if dir, err := ComposeWorkdir(ctx, a.DB, d.ID, p); err == nil {
					op.WorkingDir = dir
				}
				// Runs with only_with_updates may act on several projects of a device: the project is part of the
				// operation's ID (an older run's IDs stay as they were).
				key := in.WorkflowID + "/" + d.ID.String()
				if s.Action.OnlyWithUpdates {
					key += "/" + p
				}
				if err := a.recordScheduledOp(ctx, s, key, d, op, "compose:"+p); err != nil {
					return nil, err
				}
				t.Op = op
				out.Targets = append(out.Targets, t)
			}
		default:
			return nil, temporal.NewNonRetryableApplicationError("unknown schedule action "+s.Action.Type, ErrTypeInvalidInput, nil)
		}
	}
	return out, nil
}

// recordScheduledOp validates op and records it as a pending operation whose ID derives from key, so a retried
// BeginScheduledRun records the same one again; it sets op.OperationID.
func (a *Activities) recordScheduledOp(ctx context.Context, s *store.UserSchedule, key string, d *store.Device,
	op *ContainerOpInput, target string) error {
	if err := op.Validate(); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	opID := uuid.NewSHA1(scheduleRunNS, []byte(key))
	params, _ := json.Marshal(map[string]any{"schedule_id": s.ID, "schedule": s.Name})
	err := store.CreateOperation(ctx, a.DB, &store.Operation{ID: opID, WorkflowID: op.WorkflowID(), DeviceID: d.ID,
		Target: target, Action: op.Action, Params: params, TokenName: "schedule:" + s.Name})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("schedule %s: record operation on %s: %w", s.Name, d.Name, err)
	}
	op.OperationID = opID.String()
	return nil
}

// FailScheduledOperation records that a scheduled operation's workflow could not start (another operation on
// the same container was running).
func (a *Activities) FailScheduledOperation(ctx context.Context, operationID, reason string) error {
	id, err := uuid.Parse(operationID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad operation id", ErrTypeInvalidInput, err)
	}
	_, err = store.FinishOperation(ctx, a.DB, id, store.OpFailed, nil, reason, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// PruneImagesInput asks for docker image prune on a device.
type PruneImagesInput struct {
	DeviceID string
}

// PruneImagesResult is the last line of docker's answer ("Total reclaimed space: ...").
type PruneImagesResult struct {
	Summary string
}

// PruneImages runs `docker image prune -f` (dangling images only) on the device.
func (a *Activities) PruneImages(ctx context.Context, in PruneImagesInput) (*PruneImagesResult, error) {
	id, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device deleted", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, err
	}
	if err := refuseReadOnly(dev); err != nil {
		return nil, err
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := a.runDockerCommand(ctx, dev, target, docker.Join("docker", "image", "prune", "-f"))
	if err != nil {
		return nil, a.sshFailure(ctx, dev, err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if res.ExitCode != 0 {
		msg := quoteOutput(res.Stderr)
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("docker image prune on %s: exit %d: %s", dev.Name,
			res.ExitCode, msg), ErrTypeCommandFailed, nil)
	}
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return &PruneImagesResult{Summary: out}, nil
}

// TargetOutcome is one device's result in a schedule run.
type TargetOutcome struct {
	DeviceID    string
	DeviceName  string
	Project     string `json:",omitempty"`
	OperationID string `json:",omitempty"`
	State       string
	Summary     string `json:",omitempty"`
	Error       string `json:",omitempty"`
}

// FinishScheduledRunInput records a run's outcome.
type FinishScheduledRunInput struct {
	WorkflowID string
	State      string
	Outcomes   []TargetOutcome
	Error      string
}

// FinishScheduledRun records a run's outcome, readable through the API.
func (a *Activities) FinishScheduledRun(ctx context.Context, in FinishScheduledRunInput) error {
	err := store.FinishScheduleRun(ctx, a.DB, in.WorkflowID, in.State, in.Outcomes, in.Error, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil // the schedule was deleted with its runs
	}
	return err
}

// scheduledScrubs records one pending zfs_scrub operation per pool the schedule scrubs on the device: the named
// pool, or every pool the device had at its last collection ("*"). A device without pools has no target.
func (a *Activities) scheduledScrubs(ctx context.Context, s *store.UserSchedule, d *store.Device, runID string) ([]ScheduleTarget, error) {
	pools := []string{s.Action.Pool}
	if s.Action.Pool == "*" {
		rows, err := store.ListPools(ctx, a.DB, store.PoolFilter{DeviceID: &d.ID})
		if err != nil {
			return nil, fmt.Errorf("schedule %s: pools of %s: %w", s.Name, d.Name, err)
		}
		pools = pools[:0]
		for _, p := range rows {
			pools = append(pools, p.Name)
		}
	}
	var out []ScheduleTarget
	for _, pool := range pools {
		op := DeviceOpInput{DeviceID: d.ID.String(), Kind: OpKindZFSScrub, Target: pool, Action: "scrub"}
		if err := ValidateDeviceOp(a.OpKinds, op); err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
		opID := uuid.NewSHA1(scheduleRunNS, []byte(runID+"/"+d.ID.String()+"/"+pool))
		params, _ := json.Marshal(map[string]any{"schedule_id": s.ID, "schedule": s.Name})
		err := store.CreateOperation(ctx, a.DB, &store.Operation{ID: opID, WorkflowID: op.WorkflowID(), DeviceID: d.ID,
			Kind: op.Kind, Target: pool, Action: op.Action, Params: params, TokenName: "schedule:" + s.Name})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("schedule %s: record scrub of %s on %s: %w", s.Name, pool, d.Name, err)
		}
		op.OperationID = opID.String()
		out = append(out, ScheduleTarget{DeviceID: d.ID.String(), DeviceName: d.Name, DeviceOp: &op})
	}
	return out, nil
}
