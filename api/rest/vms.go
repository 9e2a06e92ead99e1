package rest

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
)

// deviceVMs answers a device's libvirt domains: available is false without virsh, error is virsh's message when
// the listing failed (the last known domains are kept).
func (s *Server) deviceVMs(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	v, err := s.VMsOf(c.UserContext(), d)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// vmAction starts a VM operation: {"action":"shutdown","timeout":120,"destroy_after":true}; start, shutdown,
// reboot, suspend, resume. timeout and destroy_after apply to shutdown only.
func (s *Server) vmAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	name := strings.Clone(c.Params("name"))
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	fd := newFieldDecoder(raw)
	var action string
	if !fd.get("action", &action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	params := map[string]string{}
	var timeout int
	if fd.get("timeout", &timeout, "a number of seconds") {
		params["timeout"] = strconv.Itoa(timeout)
	}
	var destroy bool
	if fd.get("destroy_after", &destroy, "true or false") {
		params["destroy_after"] = strconv.FormatBool(destroy)
	}
	if err := fd.finish(); err != nil {
		return err
	}
	return s.runDeviceAction(c, d, activities.DeviceOpInput{Kind: "vm", Target: name, Action: action, Params: params})
}
