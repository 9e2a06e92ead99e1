package api

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/store"
)

// vmView is a device's VMs as of the last collection.
type vmView struct {
	DeviceID    string      `json:"device_id"`
	DeviceName  string      `json:"device_name"`
	Collected   bool        `json:"collected"`
	Available   bool        `json:"available"`
	Error       string      `json:"error,omitempty"`
	CollectedAt any         `json:"collected_at"`
	Items       []*store.VM `json:"items"`
}

func (s *Server) vmsOf(ctx context.Context, d *store.Device) (*vmView, error) {
	v := &vmView{DeviceID: d.ID.String(), DeviceName: d.Name, Items: []*store.VM{}}
	h, err := store.GetVMHost(ctx, s.pool, d.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return v, nil
	case err != nil:
		return nil, err
	}
	v.Collected, v.Available, v.Error, v.CollectedAt = true, h.Available, h.Error, h.CollectedAt
	vms, err := store.ListVMs(ctx, s.pool, store.VMFilter{DeviceID: &d.ID})
	if err != nil {
		return nil, err
	}
	if vms != nil {
		v.Items = vms
	}
	return v, nil
}

// deviceVMs answers a device's libvirt domains: available is false without virsh, error is virsh's message when
// the listing failed (the last known domains are kept).
func (s *Server) deviceVMs(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	v, err := s.vmsOf(c.UserContext(), d)
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
