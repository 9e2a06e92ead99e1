package rest

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// storageRoutes registers drives and ZFS (#11): the fleet's drives, a device's drives and pools, datasets,
// snapshots on request, and the maintenance actions.
func (s *Server) storageRoutes(v1 fiber.Router) {
	read := require(store.ScopeRead)
	v1.Get("/drives", read, s.listFleetDrives)
	v1.Get("/devices/:id/drives", read, s.listDeviceDrives)
	v1.Get("/devices/:id/drives/:serial", read, s.getDrive)
	v1.Get("/zfs/pools", read, s.listFleetPools)
	v1.Get("/devices/:id/zfs/pools", read, s.listDevicePools)
	v1.Get("/devices/:id/zfs/pools/:name", read, s.getPool)
	v1.Get("/devices/:id/zfs/datasets", read, s.listDatasets)
	v1.Get("/devices/:id/zfs/snapshots", read, s.listSnapshots)
	s.storageActionRoutes(v1)
}

// fleetFilter reads the query of a fleet-wide storage list: device_id, and the enum field name, which must be one
// of allowed (msg says which otherwise); every bad field is named at once.
func fleetFilter(c *fiber.Ctx, name string, allowed []string, msg string) (dev *uuid.UUID, value string, err error) {
	fields := map[string]string{}
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["device_id"] = "must be a device id (UUID)"
		}
		dev = &id
	}
	value = c.Query(name)
	if value != "" && !slices.Contains(allowed, value) {
		fields[name] = msg
	}
	if len(fields) > 0 {
		return nil, "", service.Invalid(fields)
	}
	return dev, value, nil
}

// driveHistoryWindow is how far back a drive's details reach.
const driveHistoryWindow = 7 * 24 * time.Hour

func (s *Server) listFleetDrives(c *fiber.Ctx) error {
	dev, health, err := fleetFilter(c, "health", service.DriveHealths, "must be ok, warning, failing or unknown")
	if err != nil {
		return err
	}
	f := store.DriveFilter{DeviceID: dev, Health: health}
	drives, err := store.ListDrives(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"drives": drives, "counts": service.CountBy(drives, func(d store.Drive) string { return d.Health })})
}

func (s *Server) listDeviceDrives(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	health := c.Query("health")
	if health != "" && !slices.Contains(service.DriveHealths, health) {
		return service.Invalid(map[string]string{"health": "must be ok, warning, failing or unknown"})
	}
	drives, err := store.ListDrives(c.UserContext(), s.Pool, store.DriveFilter{DeviceID: &d.ID, Health: health})
	if err != nil {
		return err
	}
	coll, err := s.collection(c, d.ID, "drives")
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "drives": drives,
		"counts": service.CountBy(drives, func(d store.Drive) string { return d.Health }), "collection": coll})
}

// collection is the last run of one slow-cadence collector on the device (nil before the first), which says
// "smartctl not installed", "permission denied" or "no pools" when the lists are empty.
func (s *Server) collection(c *fiber.Ctx, id uuid.UUID, collector string) (any, error) {
	runs, err := store.InventoryRuns(c.UserContext(), s.Pool, id)
	if err != nil {
		return nil, err
	}
	if r, ok := runs[collector]; ok {
		return r, nil
	}
	return nil, nil
}

// decodedParam is a path parameter, percent-decoded (drive serials of unread drives are "path:/dev/sdX"), at most
// max bytes.
func decodedParam(c *fiber.Ctx, name string, max int) (string, error) {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil || v == "" || len(v) > max {
		return "", service.Invalid(map[string]string{name: "must be a non-empty, percent-encoded value of at most " + strconv.Itoa(max) + " bytes"})
	}
	return v, nil
}

func (s *Server) getDrive(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	serial, err := decodedParam(c, "serial", 300)
	if err != nil {
		return err
	}
	drive, err := store.GetDrive(c.UserContext(), s.Pool, d.ID, serial)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("drive " + serial + " on device " + d.Name)
	}
	if err != nil {
		return err
	}
	history, err := store.DriveHistory(c.UserContext(), s.Pool, d.ID, drive.Serial, s.Now().Add(-driveHistoryWindow), 500)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"drive": drive, "history": history})
}
