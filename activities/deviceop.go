package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// DeviceOpInput is one device operation beyond containers: a scrub, a self-test, a service or VM action, a
// package-list refresh. The DeviceOperation workflow passes it to every step; it stays small (no output).
type DeviceOpInput struct {
	OperationID string
	DeviceID    string
	// Kind names the OpKind that carries the operation ("zfs_scrub", "smart_selftest", "service", "vm" ...).
	Kind string
	// Target is what the operation acts on (a pool, a drive's serial, a unit, a VM); empty for device-wide kinds.
	Target string `json:",omitempty"`
	Action string
	// Params are the action's validated options.
	Params map[string]string `json:",omitempty"`
}

// WorkflowID is the operation's workflow ID: one running operation per device, kind and target, so a second
// one on the same target is refused while the first runs.
func (in DeviceOpInput) WorkflowID() string {
	return "op/" + in.DeviceID + "/" + in.Kind + "/" + in.Target
}

// OpKind carries one kind of device operation through precheck, act and verify; the DeviceOperation workflow
// records the outcome. Every method may be retried (a worker died, the link dropped): Act must check the
// target's state before acting so a retry never acts twice, and report AlreadyDone when an earlier attempt had.
type OpKind interface {
	Kind() string
	// Validate checks the input's target, action and params; its errors name the field.
	Validate(in DeviceOpInput) error
	// Precheck reads the target's state: an error when the operation cannot run (no such target: a
	// non-retryable application error), Noop when the target already is where the action would take it.
	Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error)
	Act(ctx context.Context, env *OpEnv) (*OpAct, error)
	// Verify waits until the target reached the action's state, following a long job (a scrub, a self-test)
	// with env.Progress; a target that did not get there is an ErrTypeVerifyFailed application error.
	Verify(ctx context.Context, env *OpEnv) (*OpVerify, error)
}

// OpEnv is what an operation kind works with.
type OpEnv struct {
	Device *store.Device
	In     DeviceOpInput
	// Before is what Precheck reported (in Act and Verify).
	Before string
	// Run runs a script on the device (see InventoryEnv.Run).
	Run func(ctx context.Context, script string) (*sshpool.Result, error)
	// Progress records a line of progress as the running step's detail, shown live to whoever follows the
	// operation.
	Progress func(ctx context.Context, text string)
	// DB is the database, for kinds that store what they verified (a package-list refresh stores the new update
	// check) (#13).
	DB *pgxpool.Pool
}

// OpPrecheck is Precheck's answer.
type OpPrecheck struct {
	Noop   bool   `json:",omitempty"`
	Reason string `json:",omitempty"`
	// Before describes the target's state before the action, briefly.
	Before string `json:",omitempty"`
}

// OpAct is Act's answer.
type OpAct struct {
	Output      string `json:",omitempty"`
	AlreadyDone bool   `json:",omitempty"`
}

// OpVerify is Verify's answer.
type OpVerify struct {
	Summary string
	After   string `json:",omitempty"`
}

// DeviceOpStepInput is the input of the act and verify steps: the operation and what precheck saw.
type DeviceOpStepInput struct {
	Op     DeviceOpInput
	Before string `json:",omitempty"`
}

// DeviceOpRecord is the outcome the record step stores.
type DeviceOpRecord struct {
	OperationID string
	State       string
	Summary     string `json:",omitempty"`
	Error       string `json:",omitempty"`
	Noop        bool   `json:",omitempty"`
	AlreadyDone bool   `json:",omitempty"`
	Before      string `json:",omitempty"`
	After       string `json:",omitempty"`
	Output      string `json:",omitempty"`
	Duration    time.Duration
	FinishedAt  time.Time
}

// DeviceOpResult is the result document stored with a finished device operation.
type DeviceOpResult struct {
	Summary     string `json:"summary"`
	Noop        bool   `json:"noop,omitempty"`
	AlreadyDone bool   `json:"already_done,omitempty"`
	Before      string `json:"before,omitempty"`
	After       string `json:"after,omitempty"`
	Output      string `json:"output,omitempty"`
	DurationMS  int64  `json:"duration_ms"`
}

// opKind returns the operation kind called name among the worker's (or the product's) kinds.
func (a *Activities) opKind(name string) (OpKind, bool) {
	return findOpKind(a.OpKinds, name)
}

func findOpKind(kinds []OpKind, name string) (OpKind, bool) {
	if kinds == nil {
		kinds = opKinds()
	}
	i := slices.IndexFunc(kinds, func(k OpKind) bool { return k.Kind() == name })
	if i < 0 {
		return nil, false
	}
	return kinds[i], true
}

// ValidateDeviceOp checks an operation against its kind among kinds (nil: the product's), as the API does before
// starting it. An unknown kind is an error on the field "kind".
func ValidateDeviceOp(kinds []OpKind, in DeviceOpInput) error {
	k, ok := findOpKind(kinds, in.Kind)
	if !ok {
		return &docker.ArgError{Arg: "kind", Value: in.Kind, Reason: "not a known operation kind"}
	}
	return k.Validate(in)
}

// deviceOp loads what a step of a device operation needs: the kind, the device (refusing read-only ones) and
// the environment, with the step recorded as running.
func (a *Activities) deviceOp(ctx context.Context, in DeviceOpInput, before, stepName string) (OpKind, *OpEnv, func(error, string), error) {
	kind, ok := a.opKind(in.Kind)
	if !ok {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError("unknown operation kind "+in.Kind, ErrTypeInvalidInput, nil)
	}
	if err := kind.Validate(in); err != nil {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	devID, err1 := uuid.Parse(in.DeviceID)
	opID, err2 := uuid.Parse(in.OperationID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	var dev *store.Device
	err := awaitDB(ctx, func(ctx context.Context) (err error) { dev, err = store.GetDevice(ctx, a.DB, devID); return err })
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load device %s: %w", devID, err)
	}
	if err := refuseReadOnly(dev); err != nil {
		return nil, nil, nil, err
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	done, err := a.step(ctx, opID, stepName)
	if err != nil {
		return nil, nil, nil, err
	}
	env := &OpEnv{Device: dev, In: in, Before: before, Run: a.deviceRunner(dev, target), DB: a.DB,
		Progress: func(ctx context.Context, text string) { a.progress(ctx, opID, stepName, text) }}
	return kind, env, done, nil
}

// progress rewrites the running step's detail with the latest line of progress.
func (a *Activities) progress(ctx context.Context, opID uuid.UUID, stepName, text string) {
	attempt := 1
	if activity.IsActivity(ctx) {
		attempt = int(activity.GetInfo(ctx).Attempt)
	}
	st := store.OperationStep{Name: stepName, State: store.StepRunning, Attempt: attempt, StartedAt: a.now().UTC(),
		Detail: clipText(text, 200)}
	if op, err := store.GetOperation(ctx, a.DB, opID); err == nil {
		for _, s := range op.Steps {
			if s.Name == stepName {
				st.StartedAt = s.StartedAt
			}
		}
	}
	if _, err := store.SetOperationStep(ctx, a.DB, opID, st); err != nil && !errors.Is(err, store.ErrOperationFinished) {
		a.logger().Warn("operation progress not recorded", "operation", opID, "step", stepName, "err", err)
	}
}

// PrecheckDeviceOp is the precheck step of a device operation.
func (a *Activities) PrecheckDeviceOp(ctx context.Context, in DeviceOpInput) (*OpPrecheck, error) {
	kind, env, done, err := a.deviceOp(ctx, in, "", StepPrecheck)
	if err != nil {
		return nil, err
	}
	res, err := kind.Precheck(ctx, env)
	if err == nil && res == nil {
		res = &OpPrecheck{}
	}
	detail := ""
	if res != nil {
		detail = res.Before
		if res.Noop {
			detail = "nothing to do: " + res.Reason
		}
	}
	done(err, detail)
	return res, err
}

// ActDeviceOp is the act step of a device operation; it heartbeats while the kind acts.
func (a *Activities) ActDeviceOp(ctx context.Context, in DeviceOpStepInput) (*OpAct, error) {
	kind, env, done, err := a.deviceOp(ctx, in.Op, in.Before, StepAct)
	if err != nil {
		return nil, err
	}
	stop := heartbeat(ctx, "acting")
	res, err := kind.Act(ctx, env)
	stop()
	if err == nil && res == nil {
		res = &OpAct{}
	}
	if res != nil {
		res.Output = clipText(res.Output, maxOpOutput)
	}
	detail := ""
	if res != nil && res.AlreadyDone {
		detail = "an earlier attempt had acted"
	}
	done(err, detail)
	return res, err
}

// VerifyDeviceOp is the verify step of a device operation: it follows the target until it reached the action's
// state, heartbeating all along, however long that takes (the workflow bounds it).
func (a *Activities) VerifyDeviceOp(ctx context.Context, in DeviceOpStepInput) (*OpVerify, error) {
	kind, env, done, err := a.deviceOp(ctx, in.Op, in.Before, StepVerify)
	if err != nil {
		return nil, err
	}
	stop := heartbeat(ctx, "verifying")
	res, err := kind.Verify(ctx, env)
	stop()
	if err == nil && res == nil {
		res = &OpVerify{}
	}
	detail := ""
	if res != nil {
		detail = res.Summary
	}
	done(err, detail)
	return res, err
}

// RecordDeviceOp writes the device operation's outcome to its row. It is idempotent; the first outcome recorded
// wins.
func (a *Activities) RecordDeviceOp(ctx context.Context, in DeviceOpRecord) error {
	opID, err := uuid.Parse(in.OperationID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad operation id", ErrTypeInvalidInput, err)
	}
	done, err := a.step(ctx, opID, StepRecord)
	if err != nil {
		return err
	}
	done(nil, in.State)
	result, err := json.Marshal(DeviceOpResult{Summary: in.Summary, Noop: in.Noop, AlreadyDone: in.AlreadyDone,
		Before: in.Before, After: in.After, Output: in.Output, DurationMS: in.Duration.Milliseconds()})
	if err != nil {
		return err
	}
	_, err = store.FinishOperation(ctx, a.DB, opID, in.State, result, in.Error, in.FinishedAt)
	if errors.Is(err, store.ErrOperationFinished) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// clipText trims s and cuts it to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return safetext.Clip(s, n) + "…"
}
