package fault

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// holdLock is the advisory lock a held step waits for.
const holdLock = 15015

// installStepHold adds a trigger that makes the worker's write of a step's progress wait for the advisory lock
// holdLock while a matching row is in fault_hold: the step's first attempt then stands still at a known point
// (before its work when it records itself running, after its work when it records itself succeeded) until the
// test has killed the worker.
func installStepHold(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	_, err := db.Exec(context.Background(), `
		CREATE TABLE fault_hold (step text NOT NULL, state text NOT NULL);
		CREATE FUNCTION fault_hold_step() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF EXISTS (SELECT 1 FROM fault_hold h
				WHERE NEW.steps @> jsonb_build_array(jsonb_build_object('name', h.step, 'state', h.state, 'attempt', 1))
				AND NOT OLD.steps @> jsonb_build_array(jsonb_build_object('name', h.step, 'state', h.state, 'attempt', 1))) THEN
				PERFORM pg_advisory_xact_lock(`+strconv.Itoa(holdLock)+`);
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fault_hold_step BEFORE UPDATE ON operations FOR EACH ROW EXECUTE FUNCTION fault_hold_step();`)
	require.NoError(t, err)
}

// workerProcesses runs `infrastructor worker` processes for the stack (started without a worker).
func workerProcesses(t *testing.T, s *stack, keyPath string) *testenv.WorkerProcesses {
	t.Helper()
	return testenv.NewWorkerProcesses(t, testenv.WorkerProcessOptions{DatabaseURL: s.DBURL, TemporalAddress: s.Temporal,
		TaskQueue: s.Poller.TaskQueue, SSHKeyPath: keyPath, LogLevel: "warn"})
}

// TestFaultWorkerKilledAtEachStep kills the worker process (SIGKILL) at each step of a container restart and
// starts a new one. Kept: the operation finishes, succeeded, and the engine saw exactly one restart. Lost: the
// killed attempt, which the operation's record shows as a retried step.
func TestFaultWorkerKilledAtEachStep(t *testing.T) {
	t.Parallel()
	engine := testenv.StartDocker(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	testenv.InfrastructorBinary(t)

	tests := []struct {
		name string
		// step and state select the write the first attempt is held at; empty step kills while the engine is
		// restarting the container instead.
		step, state string
		// alreadyDone is whether the retried act finds the first attempt's restart done.
		alreadyDone bool
	}{
		{name: "precheck started", step: "precheck", state: store.StepRunning},
		{name: "act started", step: "act", state: store.StepRunning},
		{name: "act while the engine restarts", alreadyDone: true},
		{name: "act done, not reported", step: "act", state: store.StepSucceeded, alreadyDone: true},
		{name: "verify started", step: "verify", state: store.StepRunning},
		{name: "record started", step: "record", state: store.StepRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, stackOptions{NoWorker: true})
			installStepHold(t, s.DB)
			workers := workerProcesses(t, s, sshd.ClientKeyPath)
			dev := s.createDevice("docker", sshd.Host, sshd.Port, sshd.User)
			// The window opens before docker run, whose start the count below includes.
			since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
			name := runContainer(t, engine, "killed")
			before := inspect(t, engine, name)

			ctx := context.Background()
			var lock *pgxpool.Conn
			if tc.step != "" {
				_, err := s.DB.Exec(ctx, `INSERT INTO fault_hold VALUES ($1, $2)`, tc.step, tc.state)
				require.NoError(t, err)
				lock, err = s.DB.Acquire(ctx)
				require.NoError(t, err)
				defer lock.Release()
				_, err = lock.Exec(ctx, `SELECT pg_advisory_lock($1)`, holdLock)
				require.NoError(t, err)
			}

			first := workers.Start()
			op := s.restart(dev.ID, name, 3)
			if tc.step != "" {
				// Wait until the worker's write stands at the hold, then kill the worker and end its database
				// session as the dead connection would, so the held write never commits.
				var pid int32
				require.EventuallyWithT(t, func(c *assert.CollectT) {
					err := s.DB.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted
						AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
						holdLock).Scan(&pid)
					assert.NoError(c, err, "the %s step has not reached the hold", tc.step)
				}, 3*time.Minute, 20*time.Millisecond) // six stacks run at once: on a loaded machine a step takes a while
				first.Kill()
				_, err := s.DB.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
				require.NoError(t, err)
				_, err = s.DB.Exec(ctx, `DELETE FROM fault_hold`)
				require.NoError(t, err)
				_, err = lock.Exec(ctx, `SELECT pg_advisory_unlock($1)`, holdLock)
				require.NoError(t, err)
			} else {
				// docker stop's SIGTERM shows the restart has reached the engine, which now waits out the grace
				// period of the container that ignores SIGTERM.
				require.EventuallyWithT(t, func(c *assert.CollectT) {
					assert.NotEmpty(c, dockerEvents(t, engine, name, "kill", since))
				}, 60*time.Second, 20*time.Millisecond)
				first.Kill()
			}
			workers.Start()

			// A step's attempt on a dead worker is retried after its start-to-close (precheck: a minute) or
			// heartbeat timeout.
			done := s.waitOp(op.ID, 3*time.Minute)
			require.Equal(t, store.OpSucceeded, done.State, "error: %s", done.Error)
			killedStep := tc.step
			if killedStep == "" {
				killedStep = "act"
			}
			st := done.step(killedStep)
			require.NotNil(t, st)
			require.GreaterOrEqual(t, st.Attempt, 2, "the %s step ran again on the new worker", killedStep)
			require.NotNil(t, done.Result)
			if tc.alreadyDone {
				// Otherwise a later attempt may still find an earlier one's restart done (one that failed after
				// acting, on a slow machine); the engine's count below is what must hold.
				require.True(t, done.Result.AlreadyDone, "the retried act saw the first attempt's restart")
			}
			requireRestartedOnce(t, engine, name, before, since)
		})
	}
}
