package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// loadDevice resolves :id to a stored device or a 404.
func (s *Server) loadDevice(c *fiber.Ctx) (*store.Device, error) {
	return load(c, s, "device", store.GetDevice)
}

func (s *Server) deviceStatus(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	out := fiber.Map{"device_id": d.ID, "name": d.Name, "status": d.Status, "status_reason": d.StatusReason,
		"last_seen": d.LastSeen, "enabled": d.Enabled, "poll_loop": nil,
		"workflow_id": workflows.DevicePollWorkflowID(d.ID.String()),
		"temporal_ui": s.Config.TemporalUIURL + "/namespaces/" + s.Config.TemporalNamespace + "/workflows/" + workflows.DevicePollWorkflowID(d.ID.String())}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	st, err := s.Workflows.Status(ctx, d.ID)
	switch {
	case err == nil:
		out["poll_loop"] = fiber.Map{"paused": st.Paused, "blocked": st.Blocked, "block_reason": st.BlockReason,
			"offline": st.Offline, "consecutive_failures": st.ConsecutiveFailures, "interval": st.Interval.String(),
			"effective_interval": st.EffectiveInterval().String(), "last_poll_at": service.NullTime(st.LastPollAt),
			"last_summary": st.LastSummary, "last_error": st.LastError, "polls": st.Polls,
			"next_poll_at": service.NullTime(st.NextPollAt)}
	case errors.Is(err, workflows.ErrNotPolling):
		out["poll_loop_error"] = "not running"
	default:
		s.Log.Warn("poll loop status query failed", "device", d.ID, "err", err)
		out["poll_loop_error"] = "unavailable (is a worker running?)"
	}
	return c.JSON(out)
}

func (s *Server) pollNow(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	setAudit(c, "device.poll", "device/"+d.ID.String(), nil)
	setAuditWorkflow(c, workflows.DevicePollWorkflowID(d.ID.String()))
	ctx, cancel := context.WithTimeout(c.UserContext(), service.PollNowTimeout)
	defer cancel()
	res, err := s.Workflows.PollNow(ctx, d.ID)
	if err != nil {
		return service.PollError(d, err)
	}
	if res.Error != "" {
		return service.Errorf(http.StatusBadGateway, "poll_failed", "the poll failed: "+res.Error)
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "summary": res.Summary})
}

func (s *Server) pausePolling(c *fiber.Ctx) error {
	return s.signalPoll(c, workflows.SignalPause, "device.pause")
}

func (s *Server) resumePolling(c *fiber.Ctx) error {
	return s.signalPoll(c, workflows.SignalResume, "device.resume")
}

func (s *Server) signalPoll(c *fiber.Ctx, signal, action string) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	setAudit(c, action, "device/"+d.ID.String(), nil)
	setAuditWorkflow(c, workflows.DevicePollWorkflowID(d.ID.String()))
	if err := s.Workflows.Signal(c.UserContext(), d.ID, signal, nil); err != nil {
		return service.PollError(d, err)
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"device_id": d.ID, "accepted": signal})
}

func (s *Server) listHostKeys(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	keys, err := store.ListHostKeys(c.UserContext(), s.Pool, d.ID)
	if err != nil {
		return err
	}
	return c.JSON(page(keys, nil))
}

// approveHostKey trusts the pending host key named by fingerprint and resumes polling. The fingerprint is
// required: the administrator approves the key they compared, never "whatever is pending now", which could be a
// key offered after they looked, or the wrong one of several (#15).
func (s *Server) approveHostKey(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	fingerprint := ""
	if len(c.Body()) > 0 {
		raw, err := decodeObject(c)
		if err != nil {
			return err
		}
		fd := newFieldDecoder(raw)
		fd.get("fingerprint", &fingerprint, "a string such as SHA256:...")
		if err := fd.finish(); err != nil {
			return err
		}
	}
	fingerprint = strings.TrimSpace(fingerprint)
	if fingerprint == "" {
		keys, err := store.ListHostKeys(c.UserContext(), s.Pool, d.ID)
		if err != nil {
			return err
		}
		pending := 0
		for _, k := range keys {
			if k.State == store.KeyPending {
				pending++
			}
		}
		return service.Invalid(map[string]string{"fingerprint": fmt.Sprintf("is required: the SHA256:... fingerprint of the key "+
			"you compared, as GET /api/v1/devices/%s/host-keys lists it; pending keys: %d", d.ID, pending)})
	}
	setAudit(c, "device.host_key.approve", "device/"+d.ID.String(), map[string]any{"fingerprint": fingerprint})
	by := "api"
	if tok := tokenOf(c); tok != nil {
		by = "token " + tok.Name
	}
	key, err := store.ApproveHostKey(c.UserContext(), s.Pool, d.ID, fingerprint, by)
	if errors.Is(err, store.ErrNotFound) {
		return service.Errorf(http.StatusNotFound, "not_found", "no pending host key "+fingerprint+" for device "+d.Name+
			"; GET its host-keys for the pending ones")
	}
	if err != nil {
		return err
	}
	if d.Enabled {
		setAuditWorkflow(c, workflows.DevicePollWorkflowID(d.ID.String()))
		// A loop that has ended (or never started) is started; a blocked one is resumed.
		if _, err := s.Workflows.StartPolling(c.UserContext(), d.ID, d.PollInterval); err != nil {
			return err
		}
		if err := s.Workflows.Signal(c.UserContext(), d.ID, workflows.SignalResume, nil); err != nil && !errors.Is(err, workflows.ErrNotPolling) {
			return err
		}
	}
	return c.JSON(key)
}

func (s *Server) deviceMetrics(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	q := store.MetricQuery{DeviceID: d.ID, Metric: c.Query("metric")}
	fields := map[string]string{}
	valid := false
	for _, m := range store.MetricNames() {
		valid = valid || m == q.Metric
	}
	if !valid {
		fields["metric"] = "must be one of cpu, memory, load, disk, network, diskio, temperature, containers"
	}
	now := s.Now()
	q.To = now
	q.From = now.Add(-time.Hour)
	if v := c.Query("to"); v != "" {
		if q.To, err = service.ParseTimeParam(v, now); err != nil {
			fields["to"] = err.Error()
		}
	}
	if v := c.Query("from"); v != "" {
		if q.From, err = service.ParseTimeParam(v, now); err != nil {
			fields["from"] = err.Error()
		}
	}
	if len(fields) == 0 && !q.From.Before(q.To) {
		fields["from"] = "must be before to"
	}
	if len(fields) == 0 && q.To.Sub(q.From) > 400*24*time.Hour {
		fields["from"] = "the range must be at most 400 days"
	}
	if v := c.Query("step"); v != "" {
		if q.Step, err = time.ParseDuration(v); err != nil || q.Step < time.Second {
			fields["step"] = `must be a duration of at least 1s, such as "1m"`
		}
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	// At most about 1000 buckets per series, whatever step was asked.
	span := q.To.Sub(q.From)
	if minStep := (span / 1000).Round(time.Second); q.Step < minStep {
		q.Step = minStep
	}
	if q.Step <= 0 {
		q.Step = max(span/300, 10*time.Second).Round(time.Second)
	}
	series, source, err := store.QueryMetrics(c.UserContext(), s.Pool, q)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "metric": q.Metric, "from": q.From, "to": q.To,
		"step": q.Step.String(), "source": source, "series": series})
}

func (s *Server) fleetSummary(c *fiber.Ctx) error {
	figs, err := store.FleetFigures(c.UserContext(), s.Pool, 15*time.Minute)
	if err != nil {
		return err
	}
	counts := map[string]int{store.StatusOnline: 0, store.StatusOffline: 0, store.StatusBlocked: 0, store.StatusUnknown: 0}
	for _, f := range figs {
		counts[f.Status]++
	}
	if figs == nil {
		figs = []*store.LatestFigures{}
	}
	storage, err := store.SummarizeStorage(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	inv, err := s.InventoryFleet(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"total": len(figs), "by_status": counts, "devices": figs, "storage": storage, "inventory": inv})
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.EventFilter{Kind: c.Query("kind"), Severity: c.Query("severity"), Limit: limit}
	fields := map[string]string{}
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["device_id"] = "must be a device id (UUID)"
		}
		f.DeviceID = &id
	}
	switch f.Severity {
	case "", "info", "warning", "critical":
	default:
		fields["severity"] = "must be info, warning or critical"
	}
	now := s.Now()
	for name, dst := range map[string]**time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.Query(name); v != "" {
			t, err := service.ParseTimeParam(v, now)
			if err != nil {
				fields[name] = err.Error()
			}
			*dst = &t
		}
	}
	if cursor != "" {
		if f.Before, err = strconv.ParseInt(cursor, 10, 64); err != nil || f.Before <= 0 {
			fields["cursor"] = "is not a cursor this API returned"
		}
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	events, next, err := store.ListEvents(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page(events, idCursor(next)))
}
