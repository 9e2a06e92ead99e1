package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/vocab"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// zfsCollector reads the device's ZFS pools, datasets and snapshot summaries in one session (zfs.CollectScript).
type zfsCollector struct{}

func (zfsCollector) Name() string         { return "zfs" }
func (zfsCollector) Every() time.Duration { return 0 }

func (zfsCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	dev := env.Device
	res, err := env.Run(ctx, zfs.CollectScript)
	if err != nil {
		return nil, err
	}
	c, err := zfs.ParseCollect(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("zfs of %s: %w", dev.Name, err)
	}
	if c.Absent {
		return &InventoryOutcome{Summary: "zfs: not installed"}, nil
	}
	prev, err := store.ListPools(ctx, env.DB, store.PoolFilter{DeviceID: &dev.ID})
	if err != nil {
		return nil, fmt.Errorf("previous pools of %s: %w", dev.Name, err)
	}
	plan := planPools(dev.ID, c, prev, env.Now)
	err = pgx.BeginFunc(ctx, env.DB, func(tx pgx.Tx) error {
		gone, err := store.ReplacePools(ctx, tx, dev.ID, plan.rows)
		if err != nil {
			return err
		}
		if err := store.InsertPoolSamples(ctx, tx, dev.ID, env.Now, plan.samples); err != nil {
			return err
		}
		if c.DatasetsKnown {
			if err := store.ReplaceDatasets(ctx, tx, dev.ID, plan.datasets); err != nil {
				return err
			}
		}
		for _, name := range gone {
			plan.events = append(plan.events, store.Event{Kind: EventPoolRemoved, Severity: "warning",
				Message: fmt.Sprintf("ZFS pool %s is no longer present", name)})
		}
		for i := range plan.events {
			e := plan.events[i]
			e.DeviceID = &dev.ID
			e.Message += " on " + dev.Name
			if err := store.InsertEvent(ctx, tx, &e); err != nil {
				return err
			}
		}
		return store.Publish(ctx, tx, vocab.TopicDeviceStorage(dev.ID.String()), poolUpdate(plan.rows))
	})
	if err != nil {
		return nil, fmt.Errorf("store pools of %s: %w", dev.Name, err)
	}
	return &InventoryOutcome{Summary: plan.summary(), Checks: plan.checks}, nil
}

type poolPlan struct {
	rows     []store.Pool
	samples  []store.PoolSample
	datasets []store.Dataset
	events   []store.Event
	checks   map[string][]alert.Reading
}

// planPools turns a collection into rows, samples, events and check readings, comparing each pool with its stored
// previous state for state changes, scrubs started and finished and new checksum errors.
func planPools(deviceID uuid.UUID, c *zfs.Collection, prev []store.Pool, now time.Time) *poolPlan {
	old := map[string]*store.Pool{}
	for i := range prev {
		old[prev[i].Name] = &prev[i]
	}
	usage := map[string]*zfs.PoolUsage{}
	for i := range c.Usage {
		usage[c.Usage[i].Name] = &c.Usage[i]
	}
	plan := &poolPlan{checks: map[string][]alert.Reading{alert.CheckPoolNotOnline: {}, alert.CheckPoolCapacity: {},
		alert.CheckPoolErrors: {}, alert.CheckPoolScrubAge: {}}}
	for i := range c.Pools {
		p := &c.Pools[i]
		u := usage[p.Name]
		v := zfs.AssessPool(p, u, now)
		raw, _ := json.Marshal(p)
		row := store.Pool{DeviceID: deviceID, Name: p.Name, State: p.State, Health: string(v.Health), Reasons: v.Reasons,
			Status: raw, CollectedAt: now, DataErrors: store.ClampInt64(p.DataErrors)}
		var rd, wr, ck uint64
		p.Walk(func(_ string, vd *zfs.Vdev) {
			rd, wr, ck = satAdd(rd, vd.Read), satAdd(wr, vd.Write), satAdd(ck, vd.Checksum)
		})
		row.ReadErrors, row.WriteErrors, row.ChecksumErrors = *store.ClampInt64(&rd), *store.ClampInt64(&wr), *store.ClampInt64(&ck)
		if u != nil {
			row.SizeBytes, row.AllocBytes, row.FreeBytes = store.ClampInt64(u.SizeBytes), store.ClampInt64(u.AllocBytes), store.ClampInt64(u.FreeBytes)
			row.FragmentationPct, row.CapacityPct, row.Dedup = u.FragmentationPercent, u.CapacityPercent, u.Dedup
			plan.samples = append(plan.samples, store.PoolSample{Pool: p.Name, CapacityPct: u.CapacityPercent,
				SizeBytes: row.SizeBytes, AllocBytes: row.AllocBytes, FreeBytes: row.FreeBytes, FragmentationPct: u.FragmentationPercent})
		}
		if s := p.Scan; s != nil && s.Function == zfs.ScanScrub && s.State == zfs.ScanFinished && s.End != nil {
			row.LastScrubEnd = s.End
		} else if o := old[p.Name]; o != nil {
			row.LastScrubEnd = o.LastScrubEnd
		}
		plan.rows = append(plan.rows, row)
		plan.events = append(plan.events, poolEvents(p, row, old[p.Name])...)

		key := p.Name
		plan.checks[alert.CheckPoolNotOnline] = append(plan.checks[alert.CheckPoolNotOnline],
			alert.Reading{Subject: key, Value: b2f(p.State != "ONLINE")})
		if u != nil && u.CapacityPercent != nil {
			plan.checks[alert.CheckPoolCapacity] = append(plan.checks[alert.CheckPoolCapacity],
				alert.Reading{Subject: key, Value: *u.CapacityPercent})
		}
		errs := float64(ck)
		if p.DataErrors != nil {
			errs += float64(*p.DataErrors)
		}
		if s := p.Scan; s != nil && s.State == zfs.ScanFinished && s.Errors != nil {
			errs += float64(*s.Errors)
		}
		plan.checks[alert.CheckPoolErrors] = append(plan.checks[alert.CheckPoolErrors], alert.Reading{Subject: key, Value: errs})
		// A scrub under way is fixing its age: no reading, so an alert on it resolves.
		if s := p.Scan; s == nil || s.Function != zfs.ScanScrub || (s.State != zfs.ScanInProgress && s.State != zfs.ScanPaused) {
			age := float64(alert.NoScrubDays)
			if row.LastScrubEnd != nil {
				age = math.Max(0, now.Sub(*row.LastScrubEnd).Hours()/24)
			}
			plan.checks[alert.CheckPoolScrubAge] = append(plan.checks[alert.CheckPoolScrubAge], alert.Reading{Subject: key, Value: age})
		}
	}
	if c.DatasetsKnown {
		snaps := map[string]*zfs.SnapshotSummary{}
		for i := range c.Snapshots {
			snaps[c.Snapshots[i].Dataset] = &c.Snapshots[i]
		}
		plan.checks[alert.CheckSnapshotAge] = []alert.Reading{}
		for _, d := range c.Datasets {
			row := store.Dataset{DeviceID: deviceID, Name: d.Name, Pool: strings.SplitN(d.Name, "/", 2)[0],
				UsedBytes: store.ClampInt64(d.UsedBytes), AvailBytes: store.ClampInt64(d.AvailBytes),
				ReferBytes: store.ClampInt64(d.ReferBytes), CompressRatio: d.CompressRatio, Mountpoint: d.Mountpoint,
				CollectedAt: now}
			if s := snaps[d.Name]; s != nil {
				row.SnapshotCount, row.SnapshotsUsed = *store.ClampInt64(&s.Count), *store.ClampInt64(&s.UsedBytes)
				oldest, newest := s.OldestCreated, s.NewestCreated
				row.OldestSnapshot, row.OldestSnapshotAt = s.Oldest, &oldest
				row.NewestSnapshot, row.NewestSnapshotAt = s.Newest, &newest
				plan.checks[alert.CheckSnapshotAge] = append(plan.checks[alert.CheckSnapshotAge],
					alert.Reading{Subject: d.Name, Value: math.Max(0, now.Sub(newest).Hours())})
			}
			plan.datasets = append(plan.datasets, row)
		}
	}
	return plan
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// poolEvents records what changed since the previous collection: the state, a scrub that started or finished,
// checksum errors that appeared.
func poolEvents(p *zfs.Pool, row store.Pool, old *store.Pool) []store.Event {
	var out []store.Event
	data, _ := json.Marshal(map[string]any{"pool": p.Name, "state": p.State, "health": row.Health, "reasons": row.Reasons})
	switch {
	case p.State != "ONLINE" && (old == nil || old.State != p.State):
		why := ""
		if len(row.Reasons) > 0 {
			why = ": " + row.Reasons[0]
		}
		out = append(out, store.Event{Kind: EventPoolDegraded, Severity: "critical",
			Message: fmt.Sprintf("ZFS pool %s is %s%s", p.Name, p.State, why), Data: data})
	case p.State == "ONLINE" && old != nil && old.State != "ONLINE":
		out = append(out, store.Event{Kind: EventPoolOnline, Severity: "info",
			Message: fmt.Sprintf("ZFS pool %s is ONLINE again (was %s)", p.Name, old.State), Data: data})
	}
	var was *zfs.Scan
	if old != nil {
		var op zfs.Pool
		if json.Unmarshal(old.Status, &op) == nil {
			was = op.Scan
		}
	}
	if s := p.Scan; s != nil && s.Function == zfs.ScanScrub {
		switch {
		case s.State == zfs.ScanInProgress && (was == nil || was.State != zfs.ScanInProgress || !sameTime(was.Start, s.Start)):
			out = append(out, store.Event{Kind: EventScrubStarted, Severity: "info",
				Message: fmt.Sprintf("scrub of ZFS pool %s started", p.Name), Data: data})
		case s.State == zfs.ScanFinished && old != nil && (was == nil || was.State != zfs.ScanFinished || !sameTime(was.End, s.End)):
			errs := uint64(0)
			if s.Errors != nil {
				errs = *s.Errors
			}
			sev := "info"
			if errs > 0 {
				sev = "warning"
			}
			out = append(out, store.Event{Kind: EventScrubFinished, Severity: sev,
				Message: fmt.Sprintf("scrub of ZFS pool %s finished with %d errors", p.Name, errs), Data: data})
		}
	}
	if old != nil && row.ChecksumErrors > old.ChecksumErrors {
		out = append(out, store.Event{Kind: EventPoolChecksum, Severity: "critical",
			Message: fmt.Sprintf("ZFS pool %s has new checksum errors (%d, was %d)", p.Name, row.ChecksumErrors, old.ChecksumErrors),
			Data:    data})
	}
	return out
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func (p *poolPlan) summary() string {
	if len(p.rows) == 0 {
		return "no pools"
	}
	var bad []string
	for _, r := range p.rows {
		if r.State != "ONLINE" {
			bad = append(bad, r.Name+" "+r.State)
		}
	}
	s := fmt.Sprintf("%d pools", len(p.rows))
	if len(p.rows) == 1 {
		s = "1 pool"
	}
	if len(bad) > 0 {
		s += " (" + strings.Join(bad, ", ") + ")"
	}
	return s
}

func poolUpdate(rows []store.Pool) map[string]any {
	type item struct {
		Name     string   `json:"name"`
		State    string   `json:"state"`
		Health   string   `json:"health"`
		Capacity *float64 `json:"capacity_percent,omitempty"`
	}
	items := []item{}
	for _, r := range rows {
		if len(items) == 40 {
			break
		}
		items = append(items, item{Name: r.Name, State: r.State, Health: r.Health, Capacity: r.CapacityPct})
	}
	return map[string]any{"kind": "pools", "count": len(rows), "pools": items}
}
