package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Check names of the package-update collector (internal/alert/checks.go describes them).
const (
	CheckSecurityUpdates = "security_updates_pending"
	CheckRebootRequired  = "reboot_required"
)

// Event kinds of the inventory collectors of #13.
const (
	EventSecurityUpdates = "updates.security_pending"
	EventRebootRequired  = "updates.reboot_required"
	EventVMState         = "vm.state"
	EventVMDefined       = "vm.defined"
	EventVMUndefined     = "vm.undefined"
)

// UpdatesEvery is how often the package-update collector runs on its own (a poll-now forces it): the check reads
// only cached lists, but apt's simulation costs a few seconds of CPU on a small device.
const UpdatesEvery = 6 * time.Hour

// TopicDeviceUpdates is the live-update topic of a device's package updates.
func TopicDeviceUpdates(id string) string { return "device." + id + ".updates" }

// collected is what a collector found: the one-line summary and its check readings.
type collected struct {
	summary string
	checks  map[string][]alert.Reading
}

// days is the length of d in days, the unit of the update checks.
func days(d time.Duration) float64 { return d.Hours() / 24 }

// collectUpdates runs the read-only package-update script, stores the report with the start of the current
// "security updates pending" and "reboot required" streaks, records events when either begins, and returns the
// readings of both checks: how many days each condition has lasted. A failed query stores the failure but
// returns no readings, so alert states stay as they were.
func collectUpdates(ctx context.Context, db *pgxpool.Pool, dev *store.Device, now time.Time, run runScript) (*collected, error) {
	res, err := run(ctx, pkgupdate.Script())
	if err != nil {
		return nil, fmt.Errorf("updates %s: %w", dev.Name, err)
	}
	rep, err := pkgupdate.Parse(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("updates %s: %w (exit %d)", dev.Name, err, res.ExitCode)
	}
	now = now.UTC()
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	prev, err := store.GetUpdatesStreaks(ctx, tx, dev.ID)
	if err != nil {
		return nil, err
	}
	u := &store.DeviceUpdates{DeviceID: dev.ID, Manager: string(rep.Manager), Total: rep.Total, Security: rep.Security,
		SecurityKnown: rep.SecurityKnown, Updates: rep.Updates, Truncated: rep.Truncated, Reboot: string(rep.Reboot),
		RebootPkgs: rep.RebootPackages, Failed: rep.Failed, Messages: rep.Messages, CheckedAt: now}
	if !rep.ListsUpdatedAt.IsZero() {
		t := rep.ListsUpdatedAt
		age := rep.ListsAge
		u.ListsUpdated, u.ListsAge = &t, &age
	}
	// A failed query says nothing about the streaks: keep them.
	u.SecuritySince, u.RebootSince = prev.SecuritySince, prev.RebootSince
	var events []*store.Event
	if !rep.Failed {
		switch {
		case rep.Security > 0 && prev.SecuritySince == nil:
			u.SecuritySince = &now
			events = append(events, &store.Event{DeviceID: &dev.ID, Kind: EventSecurityUpdates, Severity: "warning",
				Message: fmt.Sprintf("%s: %d security updates pending (%s)", dev.Name, rep.Security, rep.Manager)})
		case rep.Security == 0:
			u.SecuritySince = nil
		}
	}
	switch rep.Reboot {
	case pkgupdate.RebootRequired:
		if prev.RebootSince == nil {
			u.RebootSince = &now
			events = append(events, &store.Event{DeviceID: &dev.ID, Kind: EventRebootRequired, Severity: "info",
				Message: dev.Name + ": a reboot is required"})
		}
	case pkgupdate.RebootNotRequired:
		u.RebootSince = nil
	}
	if err := store.SaveUpdates(ctx, tx, u); err != nil {
		return nil, err
	}
	for _, e := range events {
		if err := store.InsertEvent(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	if err := store.Publish(ctx, tx, TopicDeviceUpdates(dev.ID.String()), map[string]any{"device_id": dev.ID,
		"total": u.Total, "security": u.Security, "reboot": u.Reboot, "failed": u.Failed}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}

	out := &collected{checks: map[string][]alert.Reading{}}
	subject := string(rep.Manager)
	if !rep.Failed && rep.SecurityKnown {
		var rs []alert.Reading
		if u.SecuritySince != nil {
			rs = append(rs, alert.Reading{Subject: subject, Value: days(now.Sub(*u.SecuritySince))})
		}
		out.checks[CheckSecurityUpdates] = rs
	}
	switch rep.Reboot {
	case pkgupdate.RebootRequired:
		out.checks[CheckRebootRequired] = []alert.Reading{{Subject: "reboot", Value: days(now.Sub(*u.RebootSince))}}
	case pkgupdate.RebootNotRequired:
		out.checks[CheckRebootRequired] = nil
	}
	out.summary = updatesSummary(rep)
	return out, nil
}

func updatesSummary(rep *pkgupdate.Report) string {
	if rep.Manager == pkgupdate.ManagerNone {
		return "no package manager"
	}
	s := fmt.Sprintf("%s: %d updates", rep.Manager, rep.Total)
	if rep.SecurityKnown {
		s += fmt.Sprintf(" (%d security)", rep.Security)
	}
	if rep.Reboot == pkgupdate.RebootRequired {
		s += ", reboot required"
	}
	if rep.Failed {
		s += ", query failed"
		if len(rep.Messages) > 0 {
			s += ": " + rep.Messages[0]
		}
	}
	return s
}

// errUpdatesUnsupported is returned by the package-lists kind for a manager it does not refresh.
var errUpdatesUnsupported = errors.New("refreshing the package lists is not supported on this device")
