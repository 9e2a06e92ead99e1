package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Operation states (defined in package vocab). An operation is pending from the API's request until its
// workflow's first step runs, then running until its record step writes one of the three final states.
const (
	OpPending   = vocab.OpPending
	OpRunning   = vocab.OpRunning
	OpSucceeded = vocab.OpSucceeded
	OpFailed    = vocab.OpFailed
	OpCancelled = vocab.OpCancelled
)

// Operation kinds of the ContainerOperation workflow; device operation kinds are named by their implementations.
const (
	OpKindContainer = "container"
	OpKindCompose   = "compose"
)

// OpFinal reports whether state is one an operation ends in.
func OpFinal(state string) bool {
	return state == OpSucceeded || state == OpFailed || state == OpCancelled
}

// Step states (defined in package vocab).
const (
	StepRunning   = vocab.StepRunning
	StepSucceeded = vocab.StepSucceeded
	StepFailed    = vocab.StepFailed
	StepSkipped   = vocab.StepSkipped
)

// OperationStep is one step of an operation (precheck, act, verify, record) as its activity last reported it.
type OperationStep struct {
	Name       string     `json:"name"`
	State      string     `json:"state"`
	Attempt    int        `json:"attempt"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Detail     string     `json:"detail,omitempty"`
}

// Operation is one durable action on a container or compose project, run by a ContainerOperation workflow.
type Operation struct {
	ID         uuid.UUID `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	DeviceID   uuid.UUID `json:"device_id"`
	// Kind is what the operation acts on: "container", "compose", or a device operation kind (zfs_scrub,
	// smart_selftest, service, vm, package_lists ...).
	Kind string `json:"kind"`
	// Target is the container reference, "compose:<project>", or the device operation's target (pool, drive
	// serial, unit, VM).
	Target string `json:"target"`
	Action string `json:"action"`
	// Params are the action's arguments as requested (timeout, signal, force, volumes, working_dir).
	Params     json.RawMessage `json:"params"`
	State      string          `json:"state"`
	Steps      []OperationStep `json:"steps"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	TokenID    *uuid.UUID      `json:"token_id"`
	TokenName  string          `json:"token_name"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

const operationColumns = `id, workflow_id, run_id, device_id, kind, target, action, params, state, steps, result, error,
	token_id, token_name, created_at, started_at, finished_at`

func scanOperation(row pgx.Row) (*Operation, error) {
	var o Operation
	var params, steps, result []byte
	if err := row.Scan(&o.ID, &o.WorkflowID, &o.RunID, &o.DeviceID, &o.Kind, &o.Target, &o.Action, &params, &o.State, &steps,
		&result, &o.Error, &o.TokenID, &o.TokenName, &o.CreatedAt, &o.StartedAt, &o.FinishedAt); err != nil {
		return nil, mapErr(err)
	}
	o.Params = params
	if len(result) > 0 {
		o.Result = result
	}
	if err := json.Unmarshal(steps, &o.Steps); err != nil {
		return nil, fmt.Errorf("operation %s: steps: %w", o.ID, err)
	}
	if o.Steps == nil {
		o.Steps = []OperationStep{}
	}
	return &o, nil
}

// CreateOperation stores a new pending operation; ID, WorkflowID, DeviceID, Target and Action must be set. It
// fills CreatedAt and State.
func CreateOperation(ctx context.Context, db DBTX, o *Operation) error {
	if len(o.Params) == 0 {
		o.Params = json.RawMessage(`{}`)
	}
	if o.Kind == "" {
		o.Kind = OpKindContainer
		if strings.HasPrefix(o.Target, "compose:") {
			o.Kind = OpKindCompose
		}
	}
	if err := db.QueryRow(ctx, `INSERT INTO operations (id, workflow_id, device_id, kind, target, action, params,
		token_id, token_name) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING state, created_at`,
		o.ID, o.WorkflowID, o.DeviceID, o.Kind, o.Target, o.Action, []byte(o.Params), o.TokenID, o.TokenName).
		Scan(&o.State, &o.CreatedAt); err != nil {
		return mapErr(err)
	}
	o.Steps = []OperationStep{}
	return publishOperation(ctx, db, o.ID, o.DeviceID, o.Action, o.Target, o.State)
}

// GetOperation returns one operation.
func GetOperation(ctx context.Context, db DBTX, id uuid.UUID) (*Operation, error) {
	return scanOperation(db.QueryRow(ctx, `SELECT `+operationColumns+` FROM operations WHERE id = $1`, id))
}

// ActiveOperation returns the newest pending or running operation with the workflow ID, or ErrNotFound.
func ActiveOperation(ctx context.Context, db DBTX, workflowID string) (*Operation, error) {
	return OtherActiveOperation(ctx, db, workflowID, uuid.Nil)
}

// OtherActiveOperation is ActiveOperation leaving out the operation except (one being started).
func OtherActiveOperation(ctx context.Context, db DBTX, workflowID string, except uuid.UUID) (*Operation, error) {
	return scanOperation(db.QueryRow(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE workflow_id = $1 AND state IN ('pending', 'running') AND id <> $2 ORDER BY created_at DESC LIMIT 1`,
		workflowID, except))
}

// SetOperationRunID records the run of the workflow that carries the operation.
func SetOperationRunID(ctx context.Context, db DBTX, id uuid.UUID, runID string) error {
	tag, err := db.Exec(ctx, `UPDATE operations SET run_id = $2 WHERE id = $1`, id, runID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteOperation removes an operation whose workflow never started (a rejected duplicate).
func DeleteOperation(ctx context.Context, db DBTX, id uuid.UUID) error {
	_, err := db.Exec(ctx, `DELETE FROM operations WHERE id = $1 AND state = 'pending'`, id)
	return mapErr(err)
}

// ErrOperationFinished means the operation already reached a final state and cannot change any more.
var ErrOperationFinished = errors.New("operation already finished")

// SetOperationStep records a step's progress: the step of the same name is replaced (a retried activity updates
// its own entry, with the attempt number), a new one is appended. The first step moves a pending operation to
// running. A finished operation is left alone and ErrOperationFinished returned.
func SetOperationStep(ctx context.Context, db TxStarter, id uuid.UUID, step OperationStep) (*Operation, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	o, err := scanOperation(tx.QueryRow(ctx, `SELECT `+operationColumns+` FROM operations WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return nil, err
	}
	if OpFinal(o.State) {
		return o, ErrOperationFinished
	}
	replaced := false
	for i := range o.Steps {
		if o.Steps[i].Name == step.Name {
			o.Steps[i], replaced = step, true
		}
	}
	if !replaced {
		o.Steps = append(o.Steps, step)
	}
	raw, err := json.Marshal(o.Steps)
	if err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `UPDATE operations SET steps = $2, state = 'running',
		started_at = coalesce(started_at, $3) WHERE id = $1 RETURNING state, started_at`, id, raw, step.StartedAt).
		Scan(&o.State, &o.StartedAt); err != nil {
		return nil, mapErr(err)
	}
	if err := publishOperation(ctx, tx, o.ID, o.DeviceID, o.Action, o.Target, o.State); err != nil {
		return nil, err
	}
	return o, tx.Commit(ctx)
}

// FinishOperation writes an operation's outcome: final state, result and error. It is idempotent: finishing a
// finished operation again with the same outcome changes nothing, and a different outcome is refused with
// ErrOperationFinished (the first record wins, so a retried record step cannot flip a result).
func FinishOperation(ctx context.Context, db DBTX, id uuid.UUID, state string, result json.RawMessage, errMsg string, at time.Time) (*Operation, error) {
	if !OpFinal(state) {
		return nil, fmt.Errorf("finish operation %s: %q is not a final state", id, state)
	}
	var res []byte
	if len(result) > 0 {
		res = result
	}
	o, err := scanOperation(db.QueryRow(ctx, `UPDATE operations SET state = $2, result = $3, error = $4,
		finished_at = $5, started_at = coalesce(started_at, $5)
		WHERE id = $1 AND state IN ('pending', 'running') RETURNING `+operationColumns, id, state, res, errMsg, at))
	if errors.Is(err, ErrNotFound) {
		cur, gerr := GetOperation(ctx, db, id)
		if gerr != nil {
			return nil, gerr
		}
		if cur.State == state {
			return cur, nil
		}
		return cur, ErrOperationFinished
	}
	if err != nil {
		return nil, err
	}
	return o, publishOperation(ctx, db, o.ID, o.DeviceID, o.Action, o.Target, o.State)
}

func publishOperation(ctx context.Context, db DBTX, id, device uuid.UUID, action, target, state string) error {
	return Publish(ctx, db, TopicOperations, map[string]any{"id": id, "device_id": device, "action": action,
		"target": target, "state": state})
}

// OperationFilter selects operations; empty fields do not filter.
type OperationFilter struct {
	DeviceID *uuid.UUID
	State    string
	Action   string
	// Cursor is the opaque value ListOperations returned for the next page.
	Cursor string
	Limit  int
}

// ErrBadCursor means a cursor was not one this package produced.
var ErrBadCursor = errors.New("bad cursor")

// ListOperations returns operations newest first, and the cursor of the next page ("" on the last).
func ListOperations(ctx context.Context, db DBTX, f OperationFilter) ([]*Operation, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var afterTime *time.Time
	var afterID *uuid.UUID
	if f.Cursor != "" {
		t, id, err := decodeOpCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		afterTime, afterID = &t, &id
	}
	rows, err := db.Query(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE ($1::uuid IS NULL OR device_id = $1) AND ($2 = '' OR state = $2) AND ($3 = '' OR action = $3)
		AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $6`, f.DeviceID, f.State, f.Action, afterTime, afterID, f.Limit+1)
	out, err := scanRows(scanOperation, rows, err)
	if err != nil {
		return nil, "", err
	}
	if out == nil {
		out = []*Operation{} // the list is [] in JSON, never null
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(last.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID.String()))
	}
	return out, next, nil
}

func decodeOpCursor(c string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	ts, idStr, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	t, err1 := time.Parse(time.RFC3339Nano, ts)
	id, err2 := uuid.Parse(idStr)
	if err1 != nil || err2 != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	return t, id, nil
}

// ComposeWorkingDir returns the working directory of a compose project on a device, from the labels of its
// stored containers (the most recently updated one wins), or ErrNotFound when no stored container names it.
func ComposeWorkingDir(ctx context.Context, db DBTX, deviceID uuid.UUID, project string) (string, error) {
	var dir string
	err := db.QueryRow(ctx, `SELECT detail->>'compose_working_dir' FROM containers
		WHERE device_id = $1 AND compose_project = $2 AND coalesce(detail->>'compose_working_dir', '') <> ''
		ORDER BY updated_at DESC LIMIT 1`, deviceID, project).Scan(&dir)
	if err != nil {
		return "", mapErr(err)
	}
	return dir, nil
}
