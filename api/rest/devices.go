package rest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// deviceFields decodes a create (create=true) or PATCH body onto d, validating every field it names.
func deviceFields(fd *fieldDecoder, d *store.Device, create bool) {
	watchedUnitsField(fd, d)
	var s string
	if fd.get("name", &s, "a string") {
		if msg := service.ValidateName(s); msg != "" {
			fd.fail("name", msg)
		}
		d.Name = s
	} else if create || fd.isNull["name"] {
		fd.fail("name", "is required")
	}
	if fd.get("host", &s, "a string") {
		if msg := validateHost(s); msg != "" {
			fd.fail("host", msg)
		}
		d.Host = strings.Trim(s, "[]")
	} else if create || fd.isNull["host"] {
		fd.fail("host", "is required")
	}
	var port int
	if fd.get("port", &port, "an integer") {
		if msg := validatePort(port); msg != "" {
			fd.fail("port", msg)
		}
		d.Port = port
	} else if fd.isNull["port"] {
		d.Port = 22
	}
	if fd.get("user", &s, "a string") {
		if msg := validateUser(s); msg != "" {
			fd.fail("user", msg)
		}
		d.User = s
	} else if create || fd.isNull["user"] {
		fd.fail("user", "is required")
	}
	if fd.get("description", &s, "a string") {
		if msg := validateDescription(s); msg != "" {
			fd.fail("description", msg)
		}
		d.Description = s
	} else if fd.isNull["description"] {
		d.Description = ""
	}
	if fd.get("device_type", &s, "a string") {
		if !service.ReDeviceType.MatchString(s) {
			fd.fail("device_type", "must be 1-32 lowercase letters, digits, '_' or '-' (e.g. linux, unraid, raspberrypi)")
		}
		d.DeviceType = s
	} else if fd.isNull["device_type"] {
		d.DeviceType = "linux"
	}
	var tags []string
	if fd.get("tags", &tags, "an array of strings") {
		clean, msg := service.ValidateTags(tags)
		if msg != "" {
			fd.fail("tags", msg)
		}
		d.Tags = clean
	} else if fd.isNull["tags"] {
		d.Tags = []string{}
	}
	if fd.get("poll_interval", &s, `a duration string such as "30s"`) {
		iv, msg := parsePollInterval(s)
		if msg != "" {
			fd.fail("poll_interval", msg)
		}
		d.PollInterval = iv
	} else if fd.isNull["poll_interval"] {
		d.PollInterval = service.DefaultPollInterval
	}
	if fd.get("inventory_interval", &s, `a duration string such as "10m"`) {
		iv, err := time.ParseDuration(s)
		switch {
		case err != nil:
			fd.fail("inventory_interval", `must be a duration such as "10m" or "1h"`)
		case iv < MinInventoryInterval || iv > MaxInventoryInterval:
			fd.fail("inventory_interval", fmt.Sprintf("must be between %s and %s", MinInventoryInterval, MaxInventoryInterval))
		default:
			d.InventoryInterval = iv
		}
	} else if fd.isNull["inventory_interval"] {
		d.InventoryInterval = store.DefaultInventoryInterval
	}
	var b bool
	if fd.get("use_sudo", &b, "true or false") {
		d.UseSudo = b
	} else if fd.isNull["use_sudo"] {
		d.UseSudo = false
	}
	if fd.get("enabled", &b, "true or false") {
		d.Enabled = b
	} else if fd.isNull["enabled"] {
		fd.fail("enabled", "must be true or false")
	}
	if fd.get("jump_host", &s, "a string or null") {
		if s == "" {
			d.JumpHost = nil
		} else {
			if msg := validateJumpHost(s); msg != "" {
				fd.fail("jump_host", msg)
			}
			// A copy: s is reused for the fields decoded after this one.
			jump := s
			d.JumpHost = &jump
		}
	} else if fd.isNull["jump_host"] {
		d.JumpHost = nil
	}
	if fd.get("host_key_policy", &s, "a string") {
		if s != store.PolicyRequireApproval && s != store.PolicyTrustFirstUse {
			fd.fail("host_key_policy", "must be require_approval or trust_first_use")
		}
		d.HostKeyPolicy = s
	} else if fd.isNull["host_key_policy"] {
		d.HostKeyPolicy = store.PolicyRequireApproval
	}
	if fd.get("read_only", &b, "true or false") {
		d.ReadOnly = b
	} else if fd.isNull["read_only"] {
		d.ReadOnly = false
	}
	if fd.get("docker_host", &s, "a string or null") {
		if s == "" {
			d.DockerHost = nil
		} else {
			if err := docker.ValidDockerHost(s); err != nil {
				var ae *docker.ArgError
				if errors.As(err, &ae) {
					fd.fail("docker_host", ae.Reason)
				} else {
					fd.fail("docker_host", err.Error())
				}
			}
			host := s
			d.DockerHost = &host
		}
	} else if fd.isNull["docker_host"] {
		d.DockerHost = nil
	}
	// Read-only fields are accepted when they echo a GET response, but never written.
	for _, ro := range []string{"id", "status", "status_reason", "last_seen", "created_at", "updated_at", "capabilities"} {
		if _, ok := fd.raw[ro]; ok {
			fd.seen[ro] = true
		}
	}
}

func newDeviceDefaults() *store.Device {
	return &store.Device{Port: 22, DeviceType: "linux", Tags: []string{}, PollInterval: service.DefaultPollInterval,
		InventoryInterval: store.DefaultInventoryInterval, Enabled: true, HostKeyPolicy: store.PolicyRequireApproval}
}

func (s *Server) createDevice(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	d := newDeviceDefaults()
	fd := newFieldDecoder(raw)
	deviceFields(fd, d, true)
	if err := fd.finish(); err != nil {
		return err
	}
	created, err := store.CreateDevice(c.UserContext(), s.Pool, d)
	if err == store.ErrConflict {
		return &service.Error{Status: http.StatusConflict, Code: "conflict", Message: "a device named " + d.Name + " already exists",
			Fields: map[string]string{"name": "is already taken"}}
	}
	if err != nil {
		return err
	}
	setAudit(c, "device.create", "device/"+created.ID.String(), map[string]any{"name": created.Name})
	if err := s.syncPolling(c, created); err != nil {
		// No device without its poll loop: undo the insert, so the client can simply retry.
		if derr := store.DeleteDevice(context.WithoutCancel(c.UserContext()), s.Pool, created.ID); derr != nil {
			s.Log.Error("could not undo device create", "device", created.ID, "err", derr)
		}
		return service.TemporalUnavailable(err)
	}
	c.Location("/api/v1/devices/" + created.ID.String())
	return c.Status(http.StatusCreated).JSON(created)
}

func (s *Server) getDevice(c *fiber.Ctx) error {
	id, err := parseID(c, "device")
	if err != nil {
		return err
	}
	d, err := store.GetDevice(c.UserContext(), s.Pool, id)
	if err == store.ErrNotFound {
		return service.NotFound("device")
	}
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) listDevices(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.DeviceFilter{Tag: c.Query("tag"), Status: c.Query("status"), Text: c.Query("q"), Limit: limit}
	fields := map[string]string{}
	switch f.Status {
	case "", store.StatusUnknown, store.StatusOnline, store.StatusOffline, store.StatusBlocked:
	default:
		fields["status"] = "must be unknown, online, offline or blocked"
	}
	if v := c.Query("enabled"); v != "" {
		b := v == "true"
		if v != "true" && v != "false" {
			fields["enabled"] = "must be true or false"
		}
		f.Enabled = &b
	}
	f.After = nameAfter(cursor, fields)
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	items, next, err := store.ListDevices(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page(items, cursorOf(next)))
}

// nameAfter decodes a cursor cursorOf made ("" for none), naming the cursor in fields when it is not one.
func nameAfter(cursor string, fields map[string]string) string {
	if cursor == "" {
		return ""
	}
	after, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(after) == 0 {
		fields["cursor"] = "is not a cursor this API returned"
	}
	return string(after)
}

// cursorOf is the cursor of a list that continues after name (nil: the list is complete).
func cursorOf(name string) *string {
	if name == "" {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(name))
	return &s
}

// page is the list envelope of every collection: {"items":[...],"next_cursor":...}.
func page[T any](items []T, next *string) fiber.Map {
	if items == nil {
		items = []T{}
	}
	return fiber.Map{"items": items, "next_cursor": next}
}

func (s *Server) updateDevice(c *fiber.Ctx) error {
	id, err := parseID(c, "device")
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	d, err := store.GetDevice(ctx, s.Pool, id)
	if err == store.ErrNotFound {
		return service.NotFound("device")
	}
	if err != nil {
		return err
	}
	before := *d
	fd := newFieldDecoder(raw)
	deviceFields(fd, d, false)
	if err := fd.finish(); err != nil {
		return err
	}
	setAudit(c, "device.update", "device/"+id.String(), map[string]any{"fields": slices.Sorted(maps.Keys(raw))})
	updated, err := store.UpdateDevice(ctx, s.Pool, d)
	if err == store.ErrConflict {
		return &service.Error{Status: http.StatusConflict, Code: "conflict", Message: "a device named " + d.Name + " already exists",
			Fields: map[string]string{"name": "is already taken"}}
	}
	if err != nil {
		return err
	}
	if before.Enabled != updated.Enabled || before.PollInterval != updated.PollInterval ||
		before.Host != updated.Host || before.Port != updated.Port || before.User != updated.User ||
		!equalPtr(before.JumpHost, updated.JumpHost) {
		if err := s.syncPolling(c, updated); err != nil {
			// Keep the stored device and its poll loop in step: put the old settings back.
			if _, rerr := store.UpdateDevice(context.WithoutCancel(c.UserContext()), s.Pool, &before); rerr != nil {
				s.Log.Error("could not undo device update", "device", id, "err", rerr)
			}
			return service.TemporalUnavailable(err)
		}
	}
	return c.JSON(updated)
}

func (s *Server) deleteDevice(c *fiber.Ctx) error {
	id, err := parseID(c, "device")
	if err != nil {
		return err
	}
	setAudit(c, "device.delete", "device/"+id.String(), nil)
	if err := store.DeleteDevice(c.UserContext(), s.Pool, id); err == store.ErrNotFound {
		return service.NotFound("device")
	} else if err != nil {
		return err
	}
	if err := s.Workflows.StopPolling(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// syncPolling starts or stops the device's poll workflow to match its enabled flag and settings.
func (s *Server) syncPolling(c *fiber.Ctx, d *store.Device) error {
	if !d.Enabled {
		return s.Workflows.StopPolling(c.UserContext(), d.ID)
	}
	wf, err := s.Workflows.StartPolling(c.UserContext(), d.ID, d.PollInterval)
	if err != nil {
		return err
	}
	if wf != "" {
		setAuditWorkflow(c, wf)
	}
	return nil
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
