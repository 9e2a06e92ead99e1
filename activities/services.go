package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// Check names of the services collection (declared in internal/alert).
const (
	CheckUnitFailed          = alert.CheckUnitFailed
	CheckWatchedUnitInactive = alert.CheckWatchedUnitInactive
)

// servicesResult is what one services collection found, for the collector's summary and checks.
type servicesResult struct {
	Available bool
	Failed    int
	Watched   int
	WatchedOK int
	Verdicts  []systemd.Verdict
}

// collectServices reads the failed units and the state of the watched ones, stores them (with events on changes
// and a live update on device.<id>.services) and returns what it found. A device without systemd is stored as
// such and is not an error.
func collectServices(ctx context.Context, run runScript, db *pgxpool.Pool, dev *store.Device, now time.Time) (*servicesResult, error) {
	res, err := run(ctx, systemd.FailedScript())
	if err != nil {
		return nil, err
	}
	failed, err := systemd.ParseFailed(res.Stdout)
	out := &servicesResult{Available: !errors.Is(err, systemd.ErrNotAvailable)}
	if err != nil && out.Available {
		return nil, fmt.Errorf("services of %s: %w", dev.Name, err)
	}
	var services []store.Service
	if out.Available {
		watched, err := store.WatchedUnits(ctx, db, dev.ID)
		if err != nil {
			return nil, err
		}
		// One systemctl show for the watched units and the failed ones (for their restarts and since when),
		// watched first: the call takes at most systemd.MaxShowUnits.
		ask := append([]string{}, watched...)
		seen := map[string]bool{}
		for _, u := range watched {
			seen[u] = true
		}
		for _, f := range failed.Units {
			if !seen[f.Unit] && len(ask) < systemd.MaxShowUnits {
				seen[f.Unit] = true
				ask = append(ask, f.Unit)
			}
		}
		var states []systemd.UnitState
		if len(ask) > 0 {
			script, err := systemd.ShowScript(ask...)
			if err != nil {
				return nil, fmt.Errorf("services of %s: %w", dev.Name, err)
			}
			sres, err := run(ctx, script)
			if err != nil {
				return nil, err
			}
			shown, err := systemd.ParseShow(sres.Stdout)
			if err != nil && !errors.Is(err, systemd.ErrNotAvailable) {
				return nil, fmt.Errorf("services of %s: %w", dev.Name, err)
			}
			states = shown.Units
		}
		out.Verdicts = systemd.Judge(failed.Units, watched, states)
		services = mergeServices(out.Verdicts, failed.Units, states)
		out.Failed = len(failed.Units)
		out.Watched = len(watched)
		for _, v := range out.Verdicts {
			if v.Watched && v.Level == systemd.OK {
				out.WatchedOK++
			}
		}
	}
	sd := store.SystemdState{Available: out.Available, FailedCount: out.Failed, Truncated: failed.Truncated,
		CollectedAt: now.UTC()}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		changes, err := store.ReplaceServices(ctx, tx, dev.ID, sd, services)
		if err != nil {
			return err
		}
		units := make([]string, 0, len(changes))
		for _, c := range changes {
			if c.Unit != "" && len(units) < 20 {
				units = append(units, c.Unit)
			}
		}
		return store.Publish(ctx, tx, store.TopicDeviceServices(dev.ID.String()), map[string]any{
			"device_id": dev.ID, "systemd": out.Available, "failed": out.Failed, "watched": out.Watched,
			"watched_ok": out.WatchedOK, "changed": units})
	})
	if err != nil {
		return nil, fmt.Errorf("store services of %s: %w", dev.Name, err)
	}
	return out, nil
}

// mergeServices joins the verdicts with what list-units and show said about each unit.
func mergeServices(verdicts []systemd.Verdict, failed []systemd.FailedUnit, states []systemd.UnitState) []store.Service {
	byState := map[string]systemd.UnitState{}
	for _, s := range states {
		byState[s.Unit] = s
	}
	byFailed := map[string]systemd.FailedUnit{}
	for _, f := range failed {
		byFailed[f.Unit] = f
	}
	out := make([]store.Service, 0, len(verdicts))
	for _, v := range verdicts {
		s := store.Service{Unit: v.Unit, Watched: v.Watched, Level: string(v.Level), Reason: v.Reason}
		if f, ok := byFailed[v.Unit]; ok {
			s.Failed = true
			s.Description, s.LoadState, s.ActiveState, s.SubState = f.Description, f.Load, f.Active, f.Sub
		}
		if st, ok := byState[v.Unit]; ok {
			if st.Description != "" {
				s.Description = st.Description
			}
			if st.LoadState != "" {
				s.LoadState = st.LoadState
			}
			if st.ActiveState != "" {
				s.ActiveState, s.SubState = st.ActiveState, st.SubState
			}
			s.ActiveSince, s.NRestarts, s.MainPID = st.ActiveSince, st.NRestarts, st.MainPID
			if st.MemoryBytes != nil && *st.MemoryBytes <= 1<<62 {
				m := int64(*st.MemoryBytes)
				s.MemoryBytes = &m
			}
			if st.ActiveState == "failed" {
				s.Failed = true
			}
		}
		out = append(out, s)
	}
	return out
}

// serviceChecks turns verdicts into the readings of the two check rules: every failed unit that is not watched
// reads 1 on unit_failed; every watched unit reads 1 on watched_unit_inactive when it is not active, else 0.
// A device without systemd reports no subjects, so earlier alerts resolve.
func serviceChecks(r *servicesResult) map[string][]alert.Reading {
	failed, watched := []alert.Reading{}, []alert.Reading{}
	for _, v := range r.Verdicts {
		switch {
		case v.Watched:
			val := 0.0
			if v.Level != systemd.OK {
				val = 1
			}
			watched = append(watched, alert.Reading{Subject: v.Unit, Value: val})
		case v.Level == systemd.Warning:
			failed = append(failed, alert.Reading{Subject: v.Unit, Value: 1})
		}
	}
	return map[string][]alert.Reading{CheckUnitFailed: failed, CheckWatchedUnitInactive: watched}
}

// servicesSummary is the collector's one line.
func servicesSummary(r *servicesResult) string {
	if !r.Available {
		return "systemd not available"
	}
	var parts []string
	switch r.Failed {
	case 0:
		parts = append(parts, "no failed units")
	case 1:
		parts = append(parts, "1 failed unit")
	default:
		parts = append(parts, fmt.Sprintf("%d failed units", r.Failed))
	}
	if r.Watched > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d watched units active", r.WatchedOK, r.Watched))
	}
	return strings.Join(parts, ", ")
}
