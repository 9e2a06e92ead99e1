package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// updateWindow changes some fields of a maintenance window (#14) with the validation of createWindow. Setting
// device_id clears tag and the other way round, and setting one-off times clears the recurring ones and the
// other way round, so an edit can turn a window into the other kind without nulling the old fields; null
// clears a field. Alert evaluation reads the windows at every run, so the edit applies from the next poll on.
func (s *Server) updateWindow(c *fiber.Ctx) error {
	id, err := parseID(c, "maintenance window")
	if err != nil {
		return err
	}
	w, err := store.GetMaintenanceWindow(c.UserContext(), s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("maintenance window")
	} else if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	if err := s.decodeWindow(c, raw, w); err != nil {
		return err
	}
	setAudit(c, "maintenance_window.update", id.String(), map[string]any{"name": w.Name, "fields": fieldNames(raw)["fields"]})
	out, err := store.UpdateMaintenanceWindow(c.UserContext(), s.Pool, w)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("maintenance window")
	} else if err != nil {
		return err
	}
	return c.JSON(out)
}

// decodeWindow applies the fields present in raw to w and validates the result as a whole (see updateWindow for
// how fields of the other kind are cleared).
func (s *Server) decodeWindow(c *fiber.Ctx, raw map[string]json.RawMessage, w *store.MaintenanceWindow) error {
	given := func(names ...string) bool {
		for _, n := range names {
			if v, ok := raw[n]; ok && string(bytes.TrimSpace(v)) != "null" {
				return true
			}
		}
		return false
	}
	d := newFieldDecoder(raw)
	d.get("name", &w.Name, "a string")
	switch {
	case given("device_id") && !given("tag"):
		w.Tag = ""
	case given("tag") && !given("device_id"):
		w.DeviceID = nil
	}
	var dev uuid.UUID
	if d.get("device_id", &dev, "a device id (UUID)") {
		w.DeviceID = &dev
		if _, err := store.GetDevice(c.UserContext(), s.Pool, dev); err != nil {
			d.fail("device_id", "no such device")
		}
	} else if d.isNull["device_id"] {
		w.DeviceID = nil
	}
	d.get("tag", &w.Tag, "a string")
	if d.isNull["tag"] {
		w.Tag = ""
	}
	oneOff, recurring := given("starts_at", "ends_at"), given("start_time", "duration", "weekdays")
	if oneOff && !recurring {
		w.StartTime, w.Duration, w.Weekdays = "", 0, nil
	}
	if recurring && !oneOff {
		w.StartsAt, w.EndsAt = nil, nil
	}
	for name, dst := range map[string]**time.Time{"starts_at": &w.StartsAt, "ends_at": &w.EndsAt} {
		var t time.Time
		if d.get(name, &t, "an RFC 3339 time") {
			*dst = &t
		} else if d.isNull[name] {
			*dst = nil
		}
	}
	d.get("weekdays", &w.Weekdays, "an array of weekday numbers (0 = Sunday)")
	d.get("start_time", &w.StartTime, `a time of day such as "02:00"`)
	d.get("time_zone", &w.TimeZone, "an IANA time zone")
	var dur string
	if d.get("duration", &dur, `a duration such as "2h"`) {
		x, err := time.ParseDuration(dur)
		if err != nil {
			d.fail("duration", `must be a duration such as "2h"`)
		}
		w.Duration = x
	}
	for name, null := range d.isNull {
		switch {
		case !null:
		case name == "weekdays":
			w.Weekdays = nil
		case name == "start_time":
			w.StartTime = ""
		case name == "duration":
			w.Duration = 0
		case name == "time_zone":
			w.TimeZone = "UTC"
		}
	}
	if msg := service.ValidateName(w.Name); msg != "" {
		d.fail("name", msg)
	}
	for k, v := range w.Window().Validate() {
		d.fail(k, v)
	}
	return d.finish()
}
