package rest

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// poolStates are the states zpool prints.
var poolStates = []string{"ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED"}

// auditReadSnapshots is the audit action of a snapshot listing, which runs a command on the device.
const auditReadSnapshots = "read.zfs_snapshots"

func (s *Server) listFleetPools(c *fiber.Ctx) error {
	dev, state, err := fleetFilter(c, "state", poolStates, "must be "+strings.Join(poolStates[:len(poolStates)-1], ", ")+" or "+poolStates[len(poolStates)-1])
	if err != nil {
		return err
	}
	f := store.PoolFilter{DeviceID: dev, State: state}
	pools, err := store.ListPools(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"pools": pools, "counts": service.CountBy(pools, func(p store.Pool) string { return p.State })})
}

func (s *Server) listDevicePools(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	pools, err := store.ListPools(c.UserContext(), s.Pool, store.PoolFilter{DeviceID: &d.ID})
	if err != nil {
		return err
	}
	coll, err := s.collection(c, d.ID, "zfs")
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "pools": pools, "collection": coll})
}

func poolParam(c *fiber.Ctx) (string, error) {
	name := c.Params("name")
	if zfs.ValidPoolName(name) != nil {
		return "", service.Invalid(map[string]string{"name": "must be a pool name: a letter, then letters, digits, _ . : -"})
	}
	return name, nil
}

func (s *Server) getPool(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	name, err := poolParam(c)
	if err != nil {
		return err
	}
	p, err := store.GetPool(c.UserContext(), s.Pool, d.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("pool " + name + " on device " + d.Name)
	}
	if err != nil {
		return err
	}
	datasets, err := store.ListDatasets(c.UserContext(), s.Pool, d.ID, name)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"pool": p, "datasets": datasets})
}

func (s *Server) listDatasets(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	pool := c.Query("pool")
	if pool != "" && zfs.ValidPoolName(pool) != nil {
		return service.Invalid(map[string]string{"pool": "must be a pool name"})
	}
	ds, err := store.ListDatasets(c.UserContext(), s.Pool, d.ID, pool)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "datasets": ds})
}

// listSnapshots lists one page of snapshots through the ZFSSnapshots workflow (the API never talks SSH).
func (s *Server) listSnapshots(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	in := activities.FetchSnapshotsInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(),
		Dataset: c.Query("dataset"), Cursor: c.Query("cursor"), Limit: 100}
	fields := map[string]string{}
	if in.Dataset != "" && zfs.ValidDatasetName(in.Dataset) != nil {
		fields["dataset"] = "must be a dataset name: pool[/name...] of letters, digits, _ . : -"
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > zfs.MaxPageSize {
			fields["limit"] = "must be a number between 1 and " + strconv.Itoa(zfs.MaxPageSize)
		}
		in.Limit = n
	}
	if len(in.Cursor) > 600 {
		fields["cursor"] = "is not a cursor this API returned"
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	page, err := s.FetchSnapshots(c.UserContext(), in)
	if err != nil {
		return service.SnapshotError(err)
	}
	s.AuditRead(tokenOf(c), c.IP(), auditReadSnapshots, "device/"+d.ID.String()+"/zfs/snapshots",
		map[string]any{"interface": "rest", "dataset": in.Dataset, "snapshots": len(page.Snapshots)})
	return c.JSON(fiber.Map{"device_id": d.ID, "dataset": in.Dataset, "snapshots": page.Snapshots,
		"next_cursor": page.NextCursor, "truncated": page.Truncated})
}
