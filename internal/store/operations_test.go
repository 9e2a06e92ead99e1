package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func newOp(t *testing.T, db store.DBTX, dev uuid.UUID, action string) *store.Operation {
	t.Helper()
	o := &store.Operation{ID: uuid.New(), WorkflowID: "container-op/" + dev.String() + "/web", DeviceID: dev,
		Target: "web", Action: action, Params: json.RawMessage(`{"timeout":5}`), TokenName: "ops"}
	require.NoError(t, store.CreateOperation(context.Background(), db, o))
	return o
}

func TestOperationLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	dev := makeDevice(t, db, "opdev")
	o := newOp(t, db, dev.ID, "restart")
	require.Equal(t, store.OpPending, o.State)

	active, err := store.ActiveOperation(ctx, db, o.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, o.ID, active.ID)
	require.NoError(t, store.SetOperationRunID(ctx, db, o.ID, "run-1"))
	require.ErrorIs(t, store.SetOperationRunID(ctx, db, uuid.New(), "x"), store.ErrNotFound)

	t0 := time.Now().UTC().Truncate(time.Millisecond)
	got, err := store.SetOperationStep(ctx, db, o.ID, store.OperationStep{Name: "precheck", State: store.StepRunning, Attempt: 1, StartedAt: t0})
	require.NoError(t, err)
	require.Equal(t, store.OpRunning, got.State)
	require.NotNil(t, got.StartedAt)
	done := t0.Add(time.Second)
	_, err = store.SetOperationStep(ctx, db, o.ID, store.OperationStep{Name: "precheck", State: store.StepSucceeded, Attempt: 1, StartedAt: t0, FinishedAt: &done})
	require.NoError(t, err)
	_, err = store.SetOperationStep(ctx, db, o.ID, store.OperationStep{Name: "act", State: store.StepRunning, Attempt: 2, StartedAt: done})
	require.NoError(t, err)

	got, err = store.GetOperation(ctx, db, o.ID)
	require.NoError(t, err)
	require.Equal(t, "run-1", got.RunID)
	require.Len(t, got.Steps, 2, "a step of the same name is replaced, not appended")
	require.Equal(t, store.StepSucceeded, got.Steps[0].State)
	require.Equal(t, "act", got.Steps[1].Name)
	require.Equal(t, 2, got.Steps[1].Attempt)

	res := json.RawMessage(`{"summary":"restarted"}`)
	fin, err := store.FinishOperation(ctx, db, o.ID, store.OpSucceeded, res, "", done)
	require.NoError(t, err)
	require.Equal(t, store.OpSucceeded, fin.State)
	require.JSONEq(t, string(res), string(fin.Result))

	// A retried record step with the same outcome is fine; a different one cannot flip the result.
	_, err = store.FinishOperation(ctx, db, o.ID, store.OpSucceeded, res, "", done)
	require.NoError(t, err)
	_, err = store.FinishOperation(ctx, db, o.ID, store.OpFailed, nil, "late", done)
	require.ErrorIs(t, err, store.ErrOperationFinished)
	_, err = store.SetOperationStep(ctx, db, o.ID, store.OperationStep{Name: "verify", State: store.StepRunning, StartedAt: done})
	require.ErrorIs(t, err, store.ErrOperationFinished)
	_, err = store.FinishOperation(ctx, db, o.ID, store.OpRunning, nil, "", done)
	require.Error(t, err)

	_, err = store.ActiveOperation(ctx, db, o.WorkflowID)
	require.ErrorIs(t, err, store.ErrNotFound, "a finished operation is not active")

	// DeleteOperation only removes operations that never started.
	require.NoError(t, store.DeleteOperation(ctx, db, o.ID))
	_, err = store.GetOperation(ctx, db, o.ID)
	require.NoError(t, err)
	p := newOp(t, db, dev.ID, "stop")
	require.NoError(t, store.DeleteOperation(ctx, db, p.ID))
	_, err = store.GetOperation(ctx, db, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestListOperationsFiltersAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	a := makeDevice(t, db, "a")
	b := makeDevice(t, db, "b")
	var ids []uuid.UUID
	for i := 0; i < 5; i++ {
		ids = append(ids, newOp(t, db, a.ID, "restart").ID)
	}
	newOp(t, db, b.ID, "stop")
	_, err := store.FinishOperation(ctx, db, ids[0], store.OpFailed, nil, "boom", time.Now())
	require.NoError(t, err)

	tests := []struct {
		name string
		f    store.OperationFilter
		want int
	}{
		{"all", store.OperationFilter{}, 6},
		{"device", store.OperationFilter{DeviceID: &a.ID}, 5},
		{"state", store.OperationFilter{State: store.OpFailed}, 1},
		{"action", store.OperationFilter{Action: "stop"}, 1},
		{"none", store.OperationFilter{Action: "kill"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := store.ListOperations(ctx, db, tc.f)
			require.NoError(t, err)
			require.Len(t, got, tc.want)
			require.Empty(t, next)
		})
	}

	var seen []uuid.UUID
	f := store.OperationFilter{DeviceID: &a.ID, Limit: 2}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "paging must end")
		got, next, err := store.ListOperations(ctx, db, f)
		require.NoError(t, err)
		for _, o := range got {
			seen = append(seen, o.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	require.ElementsMatch(t, ids, seen)
	require.Len(t, seen, 5, "no operation twice")

	_, _, err = store.ListOperations(ctx, db, store.OperationFilter{Cursor: "!!"})
	require.ErrorIs(t, err, store.ErrBadCursor)
}

func TestComposeWorkingDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "c")
	_, err := store.ComposeWorkingDir(ctx, db, d.ID, "demo")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = db.Exec(ctx, `INSERT INTO containers (device_id, container_id, name, image, state, compose_project, detail)
		VALUES ($1, 'abc', 'demo_web_1', 'img', 'running', 'demo', '{"compose_working_dir":"/srv/demo"}')`, d.ID)
	require.NoError(t, err)
	dir, err := store.ComposeWorkingDir(ctx, db, d.ID, "demo")
	require.NoError(t, err)
	require.Equal(t, "/srv/demo", dir)
}
