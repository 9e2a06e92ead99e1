package mcpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// addStorageTools registers the drive and ZFS tools (#11).
func (e *mcpEndpoint) addStorageTools() {
	e.tool(mcp.NewTool("get_drive_health",
		mcp.WithDescription("SMART health of the drives of one device or of the whole fleet, worst first: each drive's verdict (ok, warning, failing, unknown) with the reasons in words, temperature, power-on hours and the key counters. As of the last slow-cadence collection."),
		annotations("Get drive health", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; the whole fleet when omitted.")),
		mcp.WithString("health", mcp.Description("Only drives with this verdict."), mcp.Enum(service.DriveHealths...)),
	), optionalDeviceTool(e, e.getDriveHealth))
	e.tool(mcp.NewTool("get_zfs_status",
		mcp.WithDescription("ZFS pools of a device: state, capacity, fragmentation, the vdev tree with read/write/checksum errors, the last scrub or resilver, zpool's status and action text, the verdict with reasons, and the datasets with their snapshot counts and newest snapshot."),
		annotations("Get ZFS status", true, false, true, false),
		deviceArg,
		mcp.WithString("pool", mcp.Description("Only this pool.")),
	), deviceTool(e, e.getZFSStatus))
	e.tool(mcp.NewTool("get_zfs_snapshots",
		mcp.WithDescription("List a device's ZFS snapshots now (oldest first), one page at a time: pass next_cursor from the previous answer as cursor. Per-dataset counts and the newest snapshot are in get_zfs_status without a device round trip."),
		annotations("Get ZFS snapshots", true, false, true, true),
		deviceArg,
		mcp.WithString("dataset", mcp.Description("Only snapshots of this dataset (e.g. tank/data).")),
		mcp.WithString("cursor", mcp.Description("next_cursor of the previous page.")),
		mcp.WithInteger("limit", mcp.Description("Most snapshots to return."), mcp.DefaultNumber(100), mcp.Min(1), mcp.Max(1000)),
	), deviceTool(e, e.getZFSSnapshots))
	e.tool(mcp.NewTool("verify_zfs_integrity",
		mcp.WithDescription("Check the integrity of the ZFS pools of one device or of the fleet: per pool its state, checksum and data errors, the age of the last completed scrub, a verdict and what to do (scrub, replace a disk, restore files)."),
		annotations("Verify ZFS integrity", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; the whole fleet when omitted.")),
	), optionalDeviceTool(e, e.verifyZFSIntegrity))
	e.addStorageActionTools()
}

type driveHealthArgs struct {
	deviceRef
	Health string `json:"health"`
}

type driveBrief struct {
	Device       string   `json:"device"`
	DeviceID     string   `json:"device_id"`
	Serial       string   `json:"serial"`
	Path         string   `json:"path"`
	Model        string   `json:"model,omitempty"`
	State        string   `json:"state"`
	Health       string   `json:"health"`
	Reasons      []string `json:"reasons"`
	TemperatureC *int64   `json:"temperature_c,omitempty"`
	PowerOnHours *int64   `json:"power_on_hours,omitempty"`
	ReadAt       any      `json:"read_at"`
}

func (e *mcpEndpoint) getDriveHealth(ctx context.Context, call *toolCall, d *store.Device, args *driveHealthArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("health", args.Health); err != nil {
		return nil, err
	}
	f := store.DriveFilter{Health: args.Health}
	where := "the fleet"
	if d != nil {
		f.DeviceID, where = &d.ID, d.Name
	}
	drives, err := store.ListDrives(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	counts := service.CountBy(drives, func(d store.Drive) string { return d.Health })
	lines := []string{fmt.Sprintf("%d drives on %s: %d failing, %d warning, %d unknown, %d ok (worst first):", len(drives), where,
		counts["failing"], counts["warning"], counts["unknown"], counts["ok"])}
	out := make([]driveBrief, 0, len(drives))
	for i, dr := range drives {
		b := driveBrief{Device: dr.DeviceName, DeviceID: dr.DeviceID.String(), Serial: dr.Serial, Path: dr.DevicePath,
			Model: dr.Model, State: dr.State, Health: dr.Health, Reasons: dr.Reasons, TemperatureC: dr.TemperatureC,
			PowerOnHours: dr.PowerOnHours, ReadAt: dr.ReadAt}
		out = append(out, b)
		if i < 200 {
			line := fmt.Sprintf("- %s %s %s (%s): %s", dr.DeviceName, dr.DevicePath, strings.TrimSpace(dr.Model+" "+dr.Serial), dr.State, dr.Health)
			if dr.TemperatureC != nil {
				line += fmt.Sprintf(", %d°C", *dr.TemperatureC)
			}
			if len(dr.Reasons) > 0 {
				line += ": " + strings.Join(dr.Reasons, "; ")
			}
			lines = append(lines, line)
		}
	}
	if len(drives) == 0 && d != nil {
		if runs, err := store.InventoryRuns(ctx, e.s.Pool, d.ID); err == nil {
			if r, ok := runs["drives"]; ok {
				lines = append(lines, "Last collection: "+r.Summary+r.Error)
			} else {
				lines = append(lines, "No drive collection has run on this device yet (poll_device_now starts one).")
			}
		}
	}
	return textResult(map[string]any{"count": len(out), "counts": counts, "drives": out}, lines...), nil
}

type zfsStatusArgs struct {
	deviceRef
	Pool string `json:"pool"`
}

func (e *mcpEndpoint) getZFSStatus(ctx context.Context, _ *toolCall, d *store.Device, args *zfsStatusArgs) (*mcp.CallToolResult, error) {
	if args.Pool != "" && zfs.ValidPoolName(args.Pool) != nil {
		return nil, service.Invalid(map[string]string{"pool": "must be a pool name"})
	}
	pools, err := store.ListPools(ctx, e.s.Pool, store.PoolFilter{DeviceID: &d.ID})
	if err != nil {
		return nil, err
	}
	if args.Pool != "" {
		pools = filterPools(pools, args.Pool)
		if len(pools) == 0 {
			return nil, service.Errorf(http.StatusNotFound, "not_found", "no pool "+args.Pool+" on "+d.Name+"; call get_zfs_status without pool to list them")
		}
	}
	datasets, err := store.ListDatasets(ctx, e.s.Pool, d.ID, args.Pool)
	if err != nil {
		return nil, err
	}
	lines := []string{fmt.Sprintf("%d ZFS pools on %s:", len(pools), d.Name)}
	if len(pools) == 0 {
		if runs, err := store.InventoryRuns(ctx, e.s.Pool, d.ID); err == nil {
			if r, ok := runs["zfs"]; ok {
				lines = append(lines, "Last collection: "+r.Summary+r.Error)
			}
		}
	}
	for _, p := range pools {
		lines = append(lines, poolLine(p))
		var zp zfs.Pool
		if json.Unmarshal(p.Status, &zp) == nil {
			if zp.Scan != nil {
				lines = append(lines, "  scan: "+zp.Scan.Text)
			}
			zp.Walk(func(class string, v *zfs.Vdev) {
				if v.State != "" && v.State != "ONLINE" || v.Read+v.Write+v.Checksum > 0 {
					lines = append(lines, fmt.Sprintf("  vdev %s%s: %s, errors read %d write %d checksum %d %s", v.Name,
						paren(class), v.State, v.Read, v.Write, v.Checksum, v.Note))
				}
			})
			if zp.Action != "" {
				lines = append(lines, "  action: "+zp.Action)
			}
			if zp.Errors != "" {
				lines = append(lines, "  errors: "+zp.Errors)
			}
		}
	}
	if len(datasets) > 0 {
		lines = append(lines, fmt.Sprintf("%d datasets:", len(datasets)))
		for i, ds := range datasets {
			if i == 100 {
				lines = append(lines, "  ... (more in the structured answer)")
				break
			}
			line := "  " + ds.Name
			if ds.SnapshotCount > 0 && ds.NewestSnapshotAt != nil {
				line += fmt.Sprintf(": %d snapshots, newest %s (%s ago)", ds.SnapshotCount, ds.NewestSnapshot,
					e.s.Now().Sub(*ds.NewestSnapshotAt).Round(time.Minute))
			} else {
				line += ": no snapshots"
			}
			lines = append(lines, line)
		}
	}
	return textResult(map[string]any{"pools": pools, "datasets": datasets}, lines...), nil
}

func filterPools(pools []store.Pool, name string) []store.Pool {
	out := []store.Pool{}
	for _, p := range pools {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func poolLine(p store.Pool) string {
	line := fmt.Sprintf("- %s on %s: %s, verdict %s", p.Name, p.DeviceName, p.State, p.Health)
	if p.CapacityPct != nil {
		line += fmt.Sprintf(", %.0f%% full", *p.CapacityPct)
	}
	if len(p.Reasons) > 0 {
		line += ": " + strings.Join(p.Reasons, "; ")
	}
	return line
}

type zfsSnapshotsArgs struct {
	deviceRef
	Dataset string `json:"dataset"`
	Cursor  string `json:"cursor"`
	limitArg
}

func (e *mcpEndpoint) getZFSSnapshots(ctx context.Context, _ *toolCall, d *store.Device, args *zfsSnapshotsArgs) (*mcp.CallToolResult, error) {
	if args.Dataset != "" && zfs.ValidDatasetName(args.Dataset) != nil {
		return nil, service.Invalid(map[string]string{"dataset": "must be a dataset name such as tank/data"})
	}
	page, err := e.s.FetchSnapshots(ctx, activities.FetchSnapshotsInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(),
		Dataset: args.Dataset, Cursor: args.Cursor, Limit: args.Limit})
	if err != nil {
		return nil, service.SnapshotError(err)
	}
	lines := []string{fmt.Sprintf("%d snapshots on %s (oldest first):", len(page.Snapshots), d.Name)}
	for _, sn := range page.Snapshots {
		lines = append(lines, fmt.Sprintf("- %s created %s, %d bytes used", sn.Name, sn.Created.Format(time.RFC3339), sn.UsedBytes))
	}
	if page.NextCursor != "" {
		lines = append(lines, "More snapshots exist: call again with cursor "+page.NextCursor)
	}
	return textResult(page, lines...), nil
}

type zfsIntegrityArgs struct {
	deviceRef
}

// PoolIntegrity is verify_zfs_integrity's answer for one pool.
type PoolIntegrity struct {
	Device         string   `json:"device"`
	Pool           string   `json:"pool"`
	State          string   `json:"state"`
	ChecksumErrors int64    `json:"checksum_errors"`
	DataErrors     *int64   `json:"data_errors"`
	LastScrubDays  *float64 `json:"last_scrub_age_days"`
	ScrubRunning   bool     `json:"scrub_running"`
	Verdict        string   `json:"verdict"`
	Reasons        []string `json:"reasons"`
	Todo           string   `json:"what_to_do"`
}

func (e *mcpEndpoint) verifyZFSIntegrity(ctx context.Context, _ *toolCall, d *store.Device, _ *zfsIntegrityArgs) (*mcp.CallToolResult, error) {
	f := store.PoolFilter{}
	where := "the fleet"
	if d != nil {
		f.DeviceID, where = &d.ID, d.Name
	}
	pools, err := store.ListPools(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	now := e.s.Now()
	out := make([]PoolIntegrity, 0, len(pools))
	lines := []string{fmt.Sprintf("ZFS integrity of %d pools on %s (worst first):", len(pools), where)}
	for _, p := range pools {
		pi := PoolIntegrity{Device: p.DeviceName, Pool: p.Name, State: p.State, ChecksumErrors: p.ChecksumErrors,
			DataErrors: p.DataErrors, Verdict: p.Health, Reasons: p.Reasons}
		if p.LastScrubEnd != nil {
			age := now.Sub(*p.LastScrubEnd).Hours() / 24
			pi.LastScrubDays = &age
		}
		var zp zfs.Pool
		if json.Unmarshal(p.Status, &zp) == nil && zp.Scan != nil && zp.Scan.Function == zfs.ScanScrub &&
			zp.Scan.State == zfs.ScanInProgress {
			pi.ScrubRunning = true
		}
		switch {
		case p.DataErrors != nil && *p.DataErrors > 0:
			pi.Todo = "files are damaged: list them with zpool status -v, restore them from backup, then scrub and zpool clear"
		case p.State != "ONLINE":
			pi.Todo = "replace or reattach the failed device (zpool replace), then scrub"
		case p.ChecksumErrors > 0:
			pi.Todo = "check the disk's SMART data (get_drive_health) and its cabling, scrub (start_zfs_scrub), then zpool clear"
		case pi.ScrubRunning:
			pi.Todo = "a scrub is running: wait for it and check again"
		case pi.LastScrubDays == nil || *pi.LastScrubDays > zfs.ScrubMaxAge.Hours()/24:
			pi.Todo = "run a scrub (start_zfs_scrub) and schedule one monthly"
		default:
			pi.Todo = "nothing: the pool is verified"
		}
		out = append(out, pi)
		scrub := "no completed scrub on record"
		if pi.LastScrubDays != nil {
			scrub = fmt.Sprintf("last scrub %.0f days ago", *pi.LastScrubDays)
		}
		dataErrs := "unknown"
		if p.DataErrors != nil {
			dataErrs = fmt.Sprint(*p.DataErrors)
		}
		lines = append(lines, fmt.Sprintf("- %s/%s: %s, %d checksum errors, data errors %s, %s; verdict %s; do: %s",
			p.DeviceName, p.Name, p.State, p.ChecksumErrors, dataErrs, scrub, p.Health, pi.Todo))
	}
	return textResult(map[string]any{"pools": out}, lines...), nil
}

// addStorageHealth lowers fleet_health's scores for failing or warning drives and unhealthy pools, so a device
// with a dying disk or a degraded pool shows up among the worst.
func (e *mcpEndpoint) addStorageHealth(ctx context.Context, report *FleetHealth) error {
	drives, err := store.ListDrives(ctx, e.s.Pool, store.DriveFilter{})
	if err != nil {
		return err
	}
	pools, err := store.ListPools(ctx, e.s.Pool, store.PoolFilter{})
	if err != nil {
		return err
	}
	idx := map[uuid.UUID]int{}
	for i, d := range report.Devices {
		idx[d.DeviceID] = i
	}
	lose := func(id uuid.UUID, points int, reason string) {
		i, ok := idx[id]
		if !ok {
			return
		}
		h := &report.Devices[i]
		h.Score = max(h.Score-points, 0)
		h.Reasons = append(h.Reasons, reason)
	}
	for _, d := range drives {
		why := ""
		if len(d.Reasons) > 0 {
			why = ": " + d.Reasons[0]
		}
		switch d.Health {
		case "failing":
			lose(d.DeviceID, 30, "drive "+d.DevicePath+" "+d.Serial+" failing"+why)
		case "warning":
			lose(d.DeviceID, 10, "drive "+d.DevicePath+" "+d.Serial+" warning"+why)
		}
	}
	for _, p := range pools {
		why := ""
		if len(p.Reasons) > 0 {
			why = ": " + p.Reasons[0]
		}
		switch p.Health {
		case "failing":
			lose(p.DeviceID, 30, "ZFS pool "+p.Name+" "+p.State+why)
		case "warning":
			lose(p.DeviceID, 10, "ZFS pool "+p.Name+why)
		}
	}
	report.Counts = map[string]int{"ok": 0, "warning": 0, "critical": 0}
	for i := range report.Devices {
		h := &report.Devices[i]
		switch {
		case h.Score < 50:
			h.Level = "critical"
		case h.Score < 90 || len(h.Reasons) > 0:
			h.Level = "warning"
		default:
			h.Level = "ok"
		}
		report.Counts[h.Level]++
	}
	sort.SliceStable(report.Devices, func(i, j int) bool { return report.Devices[i].Score < report.Devices[j].Score })
	return nil
}
