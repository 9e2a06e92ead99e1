package rest

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// inventoryRoutes registers package updates, VMs, networks and service dependencies (#13).
func (s *Server) inventoryRoutes(v1 fiber.Router) {
	read, operate := require(store.ScopeRead), require(store.ScopeOperate)
	v1.Get("/updates", read, s.fleetUpdates)
	v1.Get("/devices/:id/updates", read, s.deviceUpdates)
	v1.Get("/devices/:id/vms", read, s.deviceVMs)
	v1.Get("/devices/:id/network", read, s.deviceNetwork)
	v1.Get("/devices/:id/docker-networks", read, s.deviceDockerNetworks)
	v1.Get("/devices/:id/containers/:ref/dependencies", read, s.containerDependencies)
	v1.Post("/devices/:id/vms/:name/actions", operate, s.vmAction)
	v1.Post("/devices/:id/package-lists/refresh", operate, s.refreshPackageLists)
}

// refreshPackageLists starts the package-list refresh of a device (an audited operation; the update check never
// refreshes on its own).
func (s *Server) refreshPackageLists(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	if len(c.Body()) > 0 {
		raw, err := decodeObject(c)
		if err != nil {
			return err
		}
		if err := newFieldDecoder(raw).finish(); err != nil {
			return err
		}
	}
	return s.runDeviceAction(c, d, activities.DeviceOpInput{Kind: "package_lists", Action: "refresh"})
}

// deviceUpdates answers the latest package-update check of a device.
func (s *Server) deviceUpdates(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	u, err := store.GetUpdates(c.UserContext(), s.Pool, d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("package updates of device " + d.Name + " (not checked yet: the check runs every 6 hours and on a poll-now)")
	}
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func boolQuery(c *fiber.Ctx, name string, fields map[string]string) bool {
	v := c.Query(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		fields[name] = "must be true or false"
	}
	return b
}

// fleetUpdates lists every device's latest check, security first, with the fleet's totals.
func (s *Server) fleetUpdates(c *fiber.Ctx) error {
	limit, _, err := pageParams(c)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	f := store.UpdatesFilter{SecurityOnly: boolQuery(c, "security", fields), Pending: boolQuery(c, "pending", fields),
		RebootRequired: boolQuery(c, "reboot_required", fields), Limit: limit}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	items, totals, err := s.FleetUpdateList(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items, "totals": totals, "next_cursor": nil})
}
