package rest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
)

// alertRoutes registers alerts, alert rules with their per-device overrides, and maintenance windows.
func (s *Server) alertRoutes(v1 fiber.Router) {
	read, operate, admin := require(store.ScopeRead), require(store.ScopeOperate), require(store.ScopeAdmin)
	v1.Get("/alerts", read, s.listAlerts)
	v1.Get("/alerts/:id", read, s.getAlert)
	v1.Post("/alerts/:id/acknowledge", operate, s.acknowledgeAlert)
	v1.Post("/alerts/:id/silence", operate, s.silenceAlert)

	v1.Get("/alert-rules", read, s.listAlertRules)
	v1.Post("/alert-rules", admin, s.createAlertRule)
	v1.Get("/alert-rules/:id", read, s.getAlertRule)
	v1.Patch("/alert-rules/:id", admin, s.updateAlertRule)
	v1.Delete("/alert-rules/:id", admin, s.deleteAlertRule)
	v1.Get("/alert-rules/:id/overrides", read, s.listRuleOverrides)
	v1.Put("/alert-rules/:id/overrides/:device", admin, s.setRuleOverride)
	v1.Delete("/alert-rules/:id/overrides/:device", admin, s.deleteRuleOverride)

	v1.Get("/maintenance-windows", read, s.listWindows)
	v1.Post("/maintenance-windows", admin, s.createWindow)
	v1.Patch("/maintenance-windows/:id", admin, s.updateWindow)
	v1.Delete("/maintenance-windows/:id", admin, s.deleteWindow)
}

func (s *Server) listAlerts(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.AlertFilter{State: c.Query("state"), Limit: limit}
	fields := map[string]string{}
	switch f.State {
	case "", store.AlertFiring, store.AlertResolved:
	default:
		fields["state"] = "must be firing or resolved"
	}
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["device_id"] = "must be a device id (UUID)"
		}
		f.DeviceID = &id
	}
	if v := c.Query("rule_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["rule_id"] = "must be an alert rule id (UUID)"
		}
		f.RuleID = &id
	}
	switch f.Severity = c.Query("severity"); f.Severity {
	case "", alert.SeverityInfo, alert.SeverityWarning, alert.SeverityCritical:
	default:
		fields["severity"] = "must be info, warning or critical"
	}
	since := s.Now().Add(-service.RecentAlerts)
	if v := c.Query("since"); v != "" {
		if since, err = service.ParseTimeParam(v, s.Now()); err != nil {
			fields["since"] = err.Error()
		}
	}
	if f.State == "" {
		f.Since = &since
	}
	if cursor != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(cursor)
		t, terr := time.Parse(time.RFC3339Nano, string(raw))
		if derr != nil || terr != nil {
			fields["cursor"] = "is not a cursor this API returned"
		}
		f.Before = &t
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	alerts, next, err := store.ListAlerts(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	var nc *string
	if next != nil {
		nc = cursorOf(next.UTC().Format(time.RFC3339Nano))
	}
	return c.JSON(page(alerts, nc))
}

func (s *Server) loadAlert(c *fiber.Ctx) (*store.Alert, error) {
	return load(c, s, "alert", store.GetAlert)
}

func (s *Server) getAlert(c *fiber.Ctx) error {
	a, err := s.loadAlert(c)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) acknowledgeAlert(c *fiber.Ctx) error {
	a, err := s.loadAlert(c)
	if err != nil {
		return err
	}
	setAudit(c, "alert.acknowledge", a.ID.String(), nil)
	out, err := s.Acknowledge(c.UserContext(), a.ID, tokenOf(c))
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// silenceAlert holds back an alert's notices: {"until": RFC 3339} or {"duration": "2h"}; {"until": null} lifts it.
func (s *Server) silenceAlert(c *fiber.Ctx) error {
	a, err := s.loadAlert(c)
	if err != nil {
		return err
	}
	setAudit(c, "alert.silence", a.ID.String(), nil)
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	d := newFieldDecoder(raw)
	var sp service.SilenceSpec
	var t time.Time
	if d.get("until", &t, "an RFC 3339 time") {
		sp.Until = &t
	}
	d.get("duration", &sp.Duration, `a duration such as "2h"`)
	sp.Lift = d.isNull["until"]
	until, field, msg := s.SilenceEnd(sp, "until (or null to lift the silence)")
	if field != "" {
		d.fail(field, msg)
	}
	if err := d.finish(); err != nil {
		return err
	}
	setAudit(c, "alert.silence", a.ID.String(), map[string]any{"until": until})
	out, err := store.SilenceAlert(c.UserContext(), s.Pool, a.ID, until)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (s *Server) listAlertRules(c *fiber.Ctx) error {
	rules, err := store.ListAlertRules(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	return c.JSON(page(rules, nil))
}

func (s *Server) loadRule(c *fiber.Ctx) (*store.AlertRule, error) {
	return load(c, s, "alert rule", store.GetAlertRule)
}

func (s *Server) getAlertRule(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) createAlertRule(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	r := &store.AlertRule{Scope: alert.ScopeAll, Severity: alert.SeverityCritical, HysteresisPercent: 5, Enabled: true}
	if err := s.decodeRule(c, raw, r); err != nil {
		return err
	}
	out, err := store.CreateAlertRule(c.UserContext(), s.Pool, r)
	if errors.Is(err, store.ErrConflict) {
		return service.Errorf(http.StatusConflict, "conflict", "an alert rule named "+r.Name+" already exists")
	}
	if err != nil {
		return err
	}
	setAudit(c, "alert_rule.create", out.ID.String(), map[string]any{"name": out.Name})
	return c.Status(http.StatusCreated).JSON(out)
}

func (s *Server) updateAlertRule(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	if err := s.decodeRule(c, raw, r); err != nil {
		return err
	}
	setAudit(c, "alert_rule.update", r.ID.String(), map[string]any{"name": r.Name})
	out, err := store.UpdateAlertRule(c.UserContext(), s.Pool, r)
	if errors.Is(err, store.ErrConflict) {
		return service.Errorf(http.StatusConflict, "conflict", "an alert rule named "+r.Name+" already exists")
	}
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (s *Server) deleteAlertRule(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	setAudit(c, "alert_rule.delete", r.ID.String(), map[string]any{"name": r.Name})
	if r.Builtin {
		return service.Errorf(http.StatusConflict, "builtin", "built-in rules cannot be deleted; disable them with enabled: false")
	}
	if err := store.DeleteAlertRule(c.UserContext(), s.Pool, r.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// decodeRule applies the fields present in raw to r and validates the result as a whole. Kind, metric and
// condition of a built-in rule are fixed.
func (s *Server) decodeRule(c *fiber.Ctx, raw map[string]json.RawMessage, r *store.AlertRule) error {
	d := newFieldDecoder(raw)
	d.get("name", &r.Name, "a string")
	for name, dst := range map[string]*string{"kind": &r.Kind, "metric": &r.Metric, "condition": &r.Condition} {
		v := *dst
		if d.get(name, &v, "a string") && r.Builtin && v != *dst {
			d.fail(name, "is fixed for a built-in rule")
		}
		if !r.Builtin {
			*dst = v
		}
	}
	for name, dst := range map[string]**float64{"warning": &r.Warning, "critical": &r.Critical} {
		d.get(name, dst, "a number")
		if d.isNull[name] {
			*dst = nil
		}
	}
	d.get("severity", &r.Severity, "a string")
	for name, dst := range map[string]*time.Duration{"duration": &r.Duration, "clear_for": &r.ClearFor, "window": &r.Window} {
		var v string
		if d.get(name, &v, `a duration such as "5m"`) {
			x, err := time.ParseDuration(v)
			if err != nil {
				d.fail(name, `must be a duration such as "5m"`)
			}
			*dst = x
		}
	}
	d.get("hysteresis_percent", &r.HysteresisPercent, "a number")
	d.get("restarts", &r.Restarts, "an integer")
	d.get("scope", &r.Scope, "a string")
	d.get("scope_tag", &r.ScopeTag, "a string")
	var dev uuid.UUID
	if d.get("scope_device", &dev, "a device id (UUID)") {
		r.ScopeDevice = &dev
	} else if d.isNull["scope_device"] {
		r.ScopeDevice = nil
	}
	if d.get("channels", &r.Channels, "an array of channel ids") {
		for _, id := range r.Channels {
			if _, err := store.GetChannel(c.UserContext(), s.Pool, id); err != nil {
				d.fail("channels", "channel "+id.String()+" does not exist")
			}
		}
	}
	d.get("enabled", &r.Enabled, "a boolean")
	if msg := service.ValidateName(r.Name); msg != "" {
		d.fail("name", msg)
	}
	if r.Scope != alert.ScopeTag {
		r.ScopeTag = ""
	}
	if r.Scope != alert.ScopeDevice {
		r.ScopeDevice = nil
	} else if r.ScopeDevice != nil {
		if _, err := store.GetDevice(c.UserContext(), s.Pool, *r.ScopeDevice); err != nil {
			d.fail("scope_device", "no such device")
		}
	}
	for k, v := range r.Rule().Validate() {
		d.fail(k, v)
	}
	return d.finish()
}

func (s *Server) listRuleOverrides(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	out, err := store.ListRuleOverrides(c.UserContext(), s.Pool, &r.ID, nil)
	if err != nil {
		return err
	}
	return c.JSON(page(out, nil))
}

// setRuleOverride replaces a device's override of a rule: {"warning","critical","duration","enabled"}, each
// optional (absent or null keeps the rule's value).
func (s *Server) setRuleOverride(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	devID, err := uuid.Parse(c.Params("device"))
	if err != nil {
		return service.NotFound("device")
	}
	if _, err := store.GetDevice(c.UserContext(), s.Pool, devID); errors.Is(err, store.ErrNotFound) {
		return service.NotFound("device")
	} else if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	d := newFieldDecoder(raw)
	o := &store.RuleOverride{RuleID: r.ID, DeviceID: devID}
	d.get("warning", &o.Warning, "a number")
	d.get("critical", &o.Critical, "a number")
	d.get("enabled", &o.Enabled, "a boolean")
	var dur string
	if d.get("duration", &dur, `a duration such as "5m"`) {
		v, err := time.ParseDuration(dur)
		if err != nil || v < 0 {
			d.fail("duration", `must be a duration such as "5m"`)
		}
		o.Duration = &v
	}
	for k, v := range r.Rule().WithOverride(o.Override()).Validate() {
		d.fail(k, v)
	}
	if err := d.finish(); err != nil {
		return err
	}
	setAudit(c, "alert_rule.override", r.ID.String()+"/"+devID.String(), nil)
	if err := store.SetRuleOverride(c.UserContext(), s.Pool, o); err != nil {
		return err
	}
	return c.JSON(o)
}

func (s *Server) deleteRuleOverride(c *fiber.Ctx) error {
	r, err := s.loadRule(c)
	if err != nil {
		return err
	}
	devID, err := uuid.Parse(c.Params("device"))
	if err != nil {
		return service.NotFound("override")
	}
	setAudit(c, "alert_rule.override_delete", r.ID.String()+"/"+devID.String(), nil)
	if err := store.DeleteRuleOverride(c.UserContext(), s.Pool, r.ID, devID); errors.Is(err, store.ErrNotFound) {
		return service.NotFound("override")
	} else if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) listWindows(c *fiber.Ctx) error {
	ws, err := store.ListMaintenanceWindows(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	return c.JSON(page(ws, nil))
}

// createWindow adds a maintenance window: {"name", "device_id" or "tag", then "starts_at"+"ends_at" (one-off) or
// "start_time" ("HH:MM") + "duration" + optional "weekdays" (0 = Sunday) and "time_zone" (recurring)}.
func (s *Server) createWindow(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	w := &store.MaintenanceWindow{TimeZone: "UTC"}
	if err := s.decodeWindow(c, raw, w); err != nil {
		return err
	}
	out, err := store.CreateMaintenanceWindow(c.UserContext(), s.Pool, w)
	if err != nil {
		return err
	}
	setAudit(c, "maintenance_window.create", out.ID.String(), map[string]any{"name": out.Name})
	return c.Status(http.StatusCreated).JSON(out)
}

func (s *Server) deleteWindow(c *fiber.Ctx) error {
	id, err := parseID(c, "maintenance window")
	if err != nil {
		return err
	}
	setAudit(c, "maintenance_window.delete", id.String(), nil)
	if err := store.DeleteMaintenanceWindow(c.UserContext(), s.Pool, id); errors.Is(err, store.ErrNotFound) {
		return service.NotFound("maintenance window")
	} else if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
