package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Events of the drive and pool collectors (#11).
const (
	EventDriveWarning   = "drive.warning"
	EventDriveFailing   = "drive.failing"
	EventDriveRecovered = "drive.recovered"
	EventDriveRemoved   = "drive.removed"
	EventPoolDegraded   = "pool.degraded"
	EventPoolOnline     = "pool.online"
	EventPoolRemoved    = "pool.removed"
	EventPoolChecksum   = "pool.checksum_errors"
	EventScrubStarted   = "scrub.started"
	EventScrubFinished  = "scrub.finished"
)

// exitNotFound is the shell's status for a command that is not installed.
const exitNotFound = 127

// drivesCollector reads every drive's SMART data (#11): `smartctl --scan-open --json`, then one
// `smartctl -j -a -n standby` per drive, through `sudo -n` when the device says so. A drive in standby is not woken:
// it keeps its last reading and verdict. "Not installed", "permission denied" and "no drives" are reported states.
type drivesCollector struct{}

func (drivesCollector) Name() string         { return "drives" }
func (drivesCollector) Every() time.Duration { return 0 }

func (drivesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	dev := env.Device
	res, err := env.Run(ctx, smart.ScanCommand(dev.UseSudo))
	if err != nil {
		return nil, err
	}
	if res.ExitCode == exitNotFound {
		return &InventoryOutcome{Summary: "drives: smartctl not installed"}, nil
	}
	scan, err := smart.ParseScan(outputOf(res.Stdout, res.Stderr), res.ExitCode)
	if errors.Is(err, smart.ErrPermissionDenied) {
		return &InventoryOutcome{Summary: "drives: permission denied (sudo refused smartctl)"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("drives of %s: %w", dev.Name, err)
	}
	readings := make([]*smart.Drive, 0, len(scan.Devices))
	for _, sd := range scan.Devices {
		d, err := readDrive(ctx, env, sd)
		if err != nil {
			return nil, err
		}
		readings = append(readings, d)
	}
	prev, err := store.ListDrives(ctx, env.DB, store.DriveFilter{DeviceID: &dev.ID})
	if err != nil {
		return nil, fmt.Errorf("previous drives of %s: %w", dev.Name, err)
	}
	plan := planDrives(dev.ID, readings, prev, env.Now)
	err = pgx.BeginFunc(ctx, env.DB, func(tx pgx.Tx) error {
		gone, err := store.ReplaceDrives(ctx, tx, dev.ID, plan.rows)
		if err != nil {
			return err
		}
		if err := store.InsertDriveSamples(ctx, tx, dev.ID, plan.samples); err != nil {
			return err
		}
		for _, s := range gone {
			plan.events = append(plan.events, store.Event{Kind: EventDriveRemoved, Severity: "warning",
				Message: fmt.Sprintf("drive %s is no longer present on %s", s, dev.Name)})
		}
		for i := range plan.events {
			e := plan.events[i]
			e.DeviceID = &dev.ID
			if !strings.Contains(e.Message, " on "+dev.Name) {
				e.Message += " on " + dev.Name
			}
			if err := store.InsertEvent(ctx, tx, &e); err != nil {
				return err
			}
		}
		return store.Publish(ctx, tx, vocab.TopicDeviceStorage(dev.ID.String()), driveUpdate(plan.rows))
	})
	if err != nil {
		return nil, fmt.Errorf("store drives of %s: %w", dev.Name, err)
	}
	return &InventoryOutcome{Summary: plan.summary(), Checks: plan.checks}, nil
}

// readDrive reads one drive. A path or type the commands do not accept, or output that is not smartctl's, is a
// drive in the error state: one odd drive must not hide the others.
func readDrive(ctx context.Context, env *InventoryEnv, sd smart.ScanDevice) (*smart.Drive, error) {
	bad := func(msg string) *smart.Drive {
		return &smart.Drive{Device: sd.Name, Type: sd.Type, Protocol: sd.Protocol, State: smart.StateError, Message: msg}
	}
	cmd, err := smart.ReadCommand(sd.Name, sd.Type, env.Device.UseSudo)
	if err != nil {
		return bad(err.Error()), nil
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	d, err := smart.ParseDrive(outputOf(res.Stdout, res.Stderr), res.ExitCode)
	if err != nil {
		return bad(err.Error()), nil
	}
	// The path asked for, not the one smartctl prints (the same drive may be reached through another name).
	d.Device = sd.Name
	if d.Type == "" {
		d.Type = sd.Type
	}
	if d.Protocol == "" {
		d.Protocol = sd.Protocol
	}
	return d, nil
}

// outputOf is stdout, or stderr when stdout is empty (sudo and shells complain there).
func outputOf(stdout, stderr []byte) []byte {
	if len(bytes.TrimSpace(stdout)) == 0 {
		return stderr
	}
	return stdout
}

// drivePlan is what one collection stores and reports.
type drivePlan struct {
	rows    []store.Drive
	samples []store.DriveSample
	events  []store.Event
	checks  map[string][]alert.Reading
}

// planDrives turns readings into rows, samples, events and check readings, comparing each drive with its stored
// previous state: the verdict sees the previous counters (a rising counter is a warning), a drive in standby keeps
// its last reading, and a change of verdict is an event.
func planDrives(deviceID uuid.UUID, readings []*smart.Drive, prev []store.Drive, now time.Time) *drivePlan {
	bySerial := map[string]*store.Drive{}
	byPath := map[string]*store.Drive{}
	for i := range prev {
		p := &prev[i]
		bySerial[p.Serial] = p
		if p.DevicePath != "" {
			byPath[p.DevicePath] = p
		}
	}
	plan := &drivePlan{checks: map[string][]alert.Reading{
		alert.CheckDriveFailing: {}, alert.CheckDriveWarning: {}, alert.CheckDriveTemperature: {}}}
	seen := map[string]bool{}
	for _, d := range readings {
		key := d.Serial
		var old *store.Drive
		if key == "" {
			// Unread (standby, no permission): the drive last read at this path, if any.
			if p := byPath[d.Device]; p != nil {
				key, old = p.Serial, p
			} else {
				key = "path:" + d.Device
			}
		} else {
			old = bySerial[key]
		}
		if seen[key] {
			continue // the same drive through two paths (multipath): keep the first
		}
		seen[key] = true
		var oldSmart *smart.Drive
		if old != nil && len(old.SMART) > 0 {
			var sd smart.Drive
			if json.Unmarshal(old.SMART, &sd) == nil {
				oldSmart = &sd
			}
		}
		row := driveRow(deviceID, key, d, oldSmart, old, now)
		plan.rows = append(plan.rows, row)
		if d.State == smart.StateOK {
			plan.samples = append(plan.samples, driveSample(key, d, now))
		}
		plan.events = append(plan.events, driveEvents(row, old)...)
		plan.checks[alert.CheckDriveFailing] = append(plan.checks[alert.CheckDriveFailing],
			alert.Reading{Subject: key, Value: b2f(row.Health == string(smart.HealthFailing))})
		plan.checks[alert.CheckDriveWarning] = append(plan.checks[alert.CheckDriveWarning],
			alert.Reading{Subject: key, Value: b2f(row.Health == string(smart.HealthWarning))})
		if d.State == smart.StateOK && d.TemperatureC != nil {
			plan.checks[alert.CheckDriveTemperature] = append(plan.checks[alert.CheckDriveTemperature],
				alert.Reading{Subject: key, Value: float64(*d.TemperatureC)})
		}
	}
	return plan
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func driveRow(deviceID uuid.UUID, key string, d *smart.Drive, oldSmart *smart.Drive, old *store.Drive, now time.Time) store.Drive {
	if d.State != smart.StateOK && old != nil && oldSmart != nil && oldSmart.State == smart.StateOK {
		// Not read this time (standby, a transient open failure): keep the last reading and its verdict, and say
		// why it is not fresh. The kept reading stays the baseline the next one is compared with.
		row := *old
		row.DevicePath, row.State, row.CollectedAt = d.Device, string(d.State), now
		v := smart.Assess(d, nil)
		row.Reasons = append(withoutStateNotes(old.Reasons), v.Reasons...)
		return row
	}
	v := smart.Assess(d, oldSmart)
	raw, _ := json.Marshal(d)
	row := store.Drive{DeviceID: deviceID, Serial: key, DevicePath: d.Device, Type: d.Type, Protocol: d.Protocol,
		Model: d.Model, WWN: d.WWN, Firmware: d.Firmware, CapacityBytes: store.ClampInt64(d.CapacityBytes),
		RotationRate: d.RotationRate, TemperatureC: d.TemperatureC, PowerOnHours: store.ClampInt64(d.PowerOnHours),
		PowerCycles: store.ClampInt64(d.PowerCycles), State: string(d.State), Health: string(v.Health),
		Reasons: v.Reasons, SMART: raw, CollectedAt: now}
	if d.State == smart.StateOK {
		t := now
		row.ReadAt = &t
	}
	return row
}

// withoutStateNotes drops the note a previous unread collection added, so standby notes do not pile up.
func withoutStateNotes(reasons []string) []string {
	out := make([]string, 0, len(reasons))
	for _, r := range reasons {
		if strings.HasPrefix(r, "the drive is in standby") || strings.HasPrefix(r, "smartctl could not") {
			continue
		}
		out = append(out, r)
	}
	return out
}

func driveSample(key string, d *smart.Drive, now time.Time) store.DriveSample {
	s := store.DriveSample{Time: now, Serial: key, PowerOnHours: store.ClampInt64(d.PowerOnHours)}
	if d.TemperatureC != nil {
		t := float64(*d.TemperatureC)
		s.TemperatureC = &t
	}
	if a := d.ATA; a != nil {
		s.Reallocated, s.Pending = store.ClampInt64(a.Reallocated), store.ClampInt64(a.PendingSectors)
		s.OfflineUncorrectable = store.ClampInt64(a.OfflineUncorrectable)
		s.ReportedUncorrect, s.UDMACRCErrors = store.ClampInt64(a.ReportedUncorrect), store.ClampInt64(a.UDMACRCErrors)
	}
	if n := d.NVMe; n != nil {
		s.MediaErrors = store.ClampInt64(n.MediaErrors)
		if n.PercentageUsed != nil {
			u := float64(*n.PercentageUsed)
			s.PercentageUsed = &u
		}
	}
	if c := d.SCSI; c != nil {
		s.GrownDefects = store.ClampInt64(c.GrownDefects)
	}
	return s
}

// driveEvents records a change of verdict: a drive turning warning or failing (also when first seen so), or
// recovering.
func driveEvents(row store.Drive, old *store.Drive) []store.Event {
	was := ""
	if old != nil {
		was = old.Health
	}
	if row.Health == was {
		return nil
	}
	name := row.Serial
	if row.Model != "" {
		name = row.Model + " " + row.Serial
	}
	name += " (" + row.DevicePath + ")"
	why := ""
	if len(row.Reasons) > 0 {
		why = ": " + row.Reasons[0]
	}
	data, _ := json.Marshal(map[string]any{"serial": row.Serial, "path": row.DevicePath, "health": row.Health,
		"previous": was, "reasons": row.Reasons})
	switch row.Health {
	case string(smart.HealthFailing):
		return []store.Event{{Kind: EventDriveFailing, Severity: "critical", Message: "drive " + name + " is failing" + why, Data: data}}
	case string(smart.HealthWarning):
		return []store.Event{{Kind: EventDriveWarning, Severity: "warning", Message: "drive " + name + " shows warning signs" + why, Data: data}}
	case string(smart.HealthOK):
		if was == string(smart.HealthWarning) || was == string(smart.HealthFailing) {
			return []store.Event{{Kind: EventDriveRecovered, Severity: "info", Message: "drive " + name + " reads healthy again", Data: data}}
		}
	}
	return nil
}

func (p *drivePlan) summary() string {
	if len(p.rows) == 0 {
		return "no drives"
	}
	counts := map[string]int{}
	for _, r := range p.rows {
		counts[r.Health]++
	}
	var parts []string
	for _, h := range []string{"failing", "warning", "unknown"} {
		if counts[h] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[h], h))
		}
	}
	s := fmt.Sprintf("%d drives", len(p.rows))
	if len(p.rows) == 1 {
		s = "1 drive"
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// driveUpdate is the live update of a device's drives: their verdicts, small enough for a notification.
func driveUpdate(rows []store.Drive) map[string]any {
	type item struct {
		Serial string `json:"serial"`
		Path   string `json:"path"`
		Health string `json:"health"`
		State  string `json:"state"`
		TempC  *int64 `json:"temperature_c,omitempty"`
	}
	items := []item{}
	for _, r := range rows {
		if len(items) == 40 {
			break
		}
		items = append(items, item{Serial: r.Serial, Path: r.DevicePath, Health: r.Health, State: r.State, TempC: r.TemperatureC})
	}
	return map[string]any{"kind": "drives", "count": len(rows), "drives": items}
}
