package rest

import (
	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// storageActionRoutes registers the maintenance of drives and pools (#11): shorthands for the zfs_scrub and
// smart_selftest device operations.
func (s *Server) storageActionRoutes(v1 fiber.Router) {
	operate := require(store.ScopeOperate)
	v1.Post("/devices/:id/zfs/pools/:name/actions", operate, s.poolAction)
	v1.Post("/devices/:id/drives/:serial/actions", operate, s.driveAction)
}

// poolAction: {"action":"scrub"}.
func (s *Server) poolAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	name, err := poolParam(c)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var action string
	fd := newFieldDecoder(raw)
	if !fd.get("action", &action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	if err := fd.finish(); err != nil {
		return err
	}
	return s.runDeviceAction(c, d, activities.DeviceOpInput{Kind: activities.OpKindZFSScrub, Target: name, Action: action})
}

// driveAction: {"action":"selftest","type":"short"|"long"}.
func (s *Server) driveAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	serial, err := decodedParam(c, "serial", 300)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var action, typ string
	fd := newFieldDecoder(raw)
	if !fd.get("action", &action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	if !fd.get("type", &typ, "a string") && fd.errs["type"] == "" {
		fd.fail("type", "is required: short or long")
	}
	if err := fd.finish(); err != nil {
		return err
	}
	if action != "selftest" {
		return service.Invalid(map[string]string{"action": "must be selftest"})
	}
	in, err := s.SelfTestInput(c.UserContext(), d, serial, typ)
	if err != nil {
		return err
	}
	return s.runDeviceAction(c, d, in)
}
