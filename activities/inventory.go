package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// InventoryCollector collects one kind of slow-changing device state (drives, pools, services, updates, VMs,
// networks) during the slow-cadence collection that DevicePoll runs every inventory_interval. It stores what it
// found itself (its latest state, events on changes, live updates) and returns the readings of its checks.
// States a device reports ("permission denied", "no drives", "not installed", a disk in standby) are results to
// store, not errors; an error means the collector could not tell.
type InventoryCollector interface {
	// Name is the collector's key in device_inventory ("drives", "zfs", "services", "updates" ...).
	Name() string
	// Every is the collector's own minimum interval between successful runs (0: every collection); a forced
	// collection (poll-now) ignores it.
	Every() time.Duration
	Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error)
}

// InventoryEnv is what a collector works with.
type InventoryEnv struct {
	Device *store.Device
	DB     *pgxpool.Pool
	Now    time.Time
	// Run runs a script on the device through the SSH pool. A script that ran returns its result whatever its exit
	// status (tools such as smartctl report through it); an error means it did not run: the connection failed
	// or the device's command wrapper refused it.
	Run func(ctx context.Context, script string) (*sshpool.Result, error)
}

// InventoryOutcome is what one collector reports back.
type InventoryOutcome struct {
	// Summary is one line for the device's inventory status, e.g. "4 drives (1 warning)".
	Summary string
	// Checks are the readings per check name (see alert.Check) of the checks this collector owns.
	Checks map[string][]alert.Reading
}

// CollectInventoryInput asks for a device's slow-cadence collection; Force runs every collector, due or not.
type CollectInventoryInput struct {
	DeviceID string
	Force    bool `json:",omitempty"`
}

// CollectInventoryResult is the collection's one-line summary and the notices its check alerts raised.
type CollectInventoryResult struct {
	Summary string
	Failed  int      `json:",omitempty"`
	Notices []Notice `json:",omitempty"`
}

// inventoryTimeout bounds one collector; the activity's own timeout bounds them all.
const inventoryTimeout = 5 * time.Minute

// CollectInventory runs the device's due collectors one after the other and evaluates the check alert rules from
// their readings. A collector that fails is recorded as failed and the others still run; the activity fails only
// when the device cannot be reached at all (or is gone), so the poll loop's next collection retries.
func (a *Activities) CollectInventory(ctx context.Context, in CollectInventoryInput) (*CollectInventoryResult, error) {
	id, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	var dev *store.Device
	err = awaitDB(ctx, func(ctx context.Context) (err error) { dev, err = store.GetDevice(ctx, a.DB, id); return err })
	if errors.Is(err, store.ErrNotFound) || err == nil && !dev.Enabled {
		return nil, temporal.NewNonRetryableApplicationError("device deleted or disabled", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load device %s: %w", id, err)
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	last, err := store.InventoryRuns(ctx, a.DB, id)
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", dev.Name, err)
	}
	stop := heartbeat(ctx, "collecting inventory")
	defer stop()

	res := &CollectInventoryResult{}
	checks := map[string][]alert.Reading{}
	var parts []string
	for _, c := range a.collectors() {
		prev, ran := last[c.Name()]
		now := a.now()
		if !in.Force && ran && prev.LastOK != nil && now.Sub(*prev.LastOK) < c.Every() {
			continue
		}
		env := &InventoryEnv{Device: dev, DB: a.DB, Now: now, Run: a.deviceRunner(dev, target)}
		cctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
		out, cerr := c.Collect(cctx, env)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		run := store.InventoryRun{Collector: c.Name(), CollectedAt: now, OK: cerr == nil}
		if cerr != nil {
			// An unreachable device fails the whole collection; the poll loop notices it anyway.
			if isUnreachable(cerr) {
				return nil, cerr
			}
			run.Error = rootError(cerr)
			res.Failed++
			parts = append(parts, c.Name()+": failed")
			a.logWarn(ctx, "inventory collector failed", "device", dev.Name, "collector", c.Name(), "err", run.Error)
		} else if out != nil {
			run.Summary = out.Summary
			if out.Summary != "" {
				parts = append(parts, out.Summary)
			}
			for name, rs := range out.Checks {
				checks[name] = append(checks[name], rs...)
			}
		}
		if err := awaitDB(ctx, func(ctx context.Context) error { return store.RecordInventoryRun(ctx, a.DB, id, run) }); err != nil {
			return nil, fmt.Errorf("record inventory of %s: %w", dev.Name, err)
		}
	}
	res.Summary = strings.Join(parts, "; ")
	if len(checks) > 0 {
		ev, err := a.evaluateChecks(ctx, id, checks)
		if err != nil {
			return nil, err
		}
		res.Notices = ev.Notices
	}
	return res, nil
}

// collectors returns the registered collectors, or the product's when none are set.
func (a *Activities) collectors() []InventoryCollector {
	if a.Collectors != nil {
		return a.Collectors
	}
	return defaultCollectors()
}

// evaluateChecks evaluates the check rules of the device against the collection's readings, in one transaction
// like the evaluation after a poll.
func (a *Activities) evaluateChecks(ctx context.Context, id uuid.UUID, checks map[string][]alert.Reading) (*EvaluateAlertsResult, error) {
	var res *EvaluateAlertsResult
	err := pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) (err error) {
		res, err = a.evaluate(ctx, tx, id, EvaluateAlertsInput{DeviceID: id.String(), Checks: checks}, a.now())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return &EvaluateAlertsResult{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate check alerts of %s: %w", id, err)
	}
	return res, nil
}

// deviceRunner returns the function collectors and operation kinds run scripts with: a command that ran comes
// back with its exit status whatever it is; a refusal by the device's wrapper and SSH failures are errors.
func (a *Activities) deviceRunner(dev *store.Device, target sshpool.Target) func(ctx context.Context, script string) (*sshpool.Result, error) {
	return func(ctx context.Context, script string) (*sshpool.Result, error) {
		if deadline, ok := ctx.Deadline(); ok {
			ctx = sshpool.WithCommandTimeout(ctx, time.Until(deadline))
		}
		res, err := a.SSH.Run(ctx, target, script, nil)
		if sshpool.KindOf(err) == sshpool.Closed && ctx.Err() == nil {
			res, err = a.SSH.Run(ctx, target, script, nil)
		}
		if refused := wrapperRefusal(dev, "command", res); refused != nil {
			return nil, refused
		}
		if err == nil || sshpool.KindOf(err) == sshpool.CommandFailed && res != nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, a.sshFailure(ctx, dev, err)
	}
}

// isUnreachable reports whether err means the device could not be reached or would not let the worker in.
func isUnreachable(err error) bool {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return false
	}
	switch app.Type() {
	case ErrTypeHostKeyUnknown, ErrTypeHostKeyChanged, ErrTypeAuthFailed, ErrTypeDeviceNotFound:
		return true
	}
	return strings.HasPrefix(app.Type(), "SSH ") // sshFailure's types of connection failures
}

// rootError is an error's own message without Temporal's wrapping.
func rootError(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
