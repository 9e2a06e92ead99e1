package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// pollSamples supplies the samples of the poll being evaluated, for the parts of an observation that need asks for.
type pollSamples func(ctx context.Context, tx pgx.Tx, dev *store.Device, need alert.Needs) (*collector.Metrics, []docker.Container, error)

// readBack reads the samples a poll committed at collected back from PostgreSQL: EvaluateAlerts, which runs after
// the poll's transaction, has nothing else.
func readBack(collected time.Time) pollSamples {
	return func(ctx context.Context, tx pgx.Tx, dev *store.Device, need alert.Needs) (*collector.Metrics, []docker.Container, error) {
		return store.LoadPollSamples(ctx, tx, dev.ID, collected, need)
	}
}

// errWithinPoll marks a failure of the alert evaluation inside the poll's transaction, so the poll can tell it
// from a failure of its own writes and commit its samples without the evaluation.
type errWithinPoll struct{ err error }

func (e *errWithinPoll) Error() string { return "alert evaluation in the poll: " + e.err.Error() }
func (e *errWithinPoll) Unwrap() error { return e.err }

// evaluateWithinPoll makes w evaluate the device's alert rules in the poll's own transaction, from the figures the
// poll holds rather than reading them back (#17): a quiet poll then costs one local activity, one transaction and
// no sample reads. The evaluation commits with the samples, so a retried poll whose samples were committed (a
// duplicate) was evaluated too and is not evaluated again. The result lands in res when the transaction commits.
func (a *Activities) evaluateWithinPoll(w *store.PollWrite, res *EvaluateAlertsResult) {
	w.Within = func(ctx context.Context, tx pgx.Tx) error {
		in := EvaluateAlertsInput{DeviceID: w.DeviceID.String(), Collected: w.Time}
		r, err := a.evaluateWith(ctx, tx, w.DeviceID, in, a.now(), func(ctx context.Context, tx pgx.Tx, _ *store.Device, need alert.Needs) (*collector.Metrics, []docker.Container, error) {
			return w.Samples(ctx, tx, need)
		})
		if err != nil {
			return &errWithinPoll{err: fmt.Errorf("evaluate alerts of %s: %w", w.DeviceID, err)}
		}
		*res = *r
		return nil
	}
}
