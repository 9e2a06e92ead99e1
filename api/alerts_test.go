package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/store"
)

type ruleView struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Metric   string   `json:"metric"`
	Warning  *float64 `json:"warning"`
	Critical *float64 `json:"critical"`
	Duration string   `json:"duration"`
	Builtin  bool     `json:"builtin"`
	Enabled  bool     `json:"enabled"`
	Scope    string   `json:"scope"`
}

func TestAlertRules(t *testing.T) {
	ts := newServer(t)
	var rules struct{ Items []ruleView }
	ts.req("GET", "/api/v1/alert-rules", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &rules)
	byName := map[string]ruleView{}
	for _, r := range rules.Items {
		// Check rules come with the collectors of the slow-cadence collection; they are tested with them.
		if r.Kind != "check" {
			byName[r.Name] = r
		}
	}
	require.Len(t, byName, 8, "the built-in defaults")
	require.Equal(t, 80.0, *byName["cpu"].Warning)
	require.Equal(t, 95.0, *byName["cpu"].Critical)
	require.Equal(t, 85.0, *byName["memory"].Warning)
	require.Equal(t, 90.0, *byName["filesystem"].Critical)
	require.Equal(t, 70.0, *byName["temperature"].Critical)
	require.Equal(t, 120.0, *byName["device-offline"].Critical)
	require.Contains(t, byName, "container-unhealthy")
	require.Contains(t, byName, "container-exited-nonzero")

	body := map[string]any{"name": "load", "kind": "metric", "metric": "load_per_core", "warning": 1.5, "critical": 3,
		"duration": "10m", "scope": "tag", "scope_tag": "nas"}
	ts.req("POST", "/api/v1/alert-rules", ts.operate, body).requireStatus(t, http.StatusForbidden)
	var created ruleView
	ts.req("POST", "/api/v1/alert-rules", ts.admin, body).requireStatus(t, http.StatusCreated).into(t, &created)
	require.Equal(t, "10m0s", created.Duration)
	require.True(t, created.Enabled)
	require.False(t, created.Builtin)
	ts.req("POST", "/api/v1/alert-rules", ts.admin, body).requireStatus(t, http.StatusConflict)

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "kind": "metric", "metric": "nope", "critical": 1}, "metric"},
		{map[string]any{"name": "x", "kind": "metric", "metric": "cpu"}, "critical"},
		{map[string]any{"name": "x", "kind": "metric", "metric": "cpu", "warning": 90, "critical": 80}, "warning"},
		{map[string]any{"name": "x", "kind": "container", "condition": "restarting"}, "restarts"},
		{map[string]any{"name": "x", "kind": "container", "condition": "sad"}, "condition"},
		{map[string]any{"name": "x", "kind": "offline", "critical": 60, "scope": "device"}, "scope_device"},
		{map[string]any{"name": "x", "kind": "offline", "critical": 60, "scope": "device", "scope_device": uuid.NewString()}, "scope_device"},
		{map[string]any{"name": "x", "kind": "offline", "critical": 60, "duration": "soon"}, "duration"},
		{map[string]any{"name": "x", "kind": "offline", "critical": 60, "channels": []string{uuid.NewString()}}, "channels"},
		{map[string]any{"name": "x", "kind": "offline", "critical": 60, "colour": "red"}, "colour"},
		{map[string]any{"name": "", "kind": "host_key"}, "name"},
		{map[string]any{"name": "x", "kind": "nope"}, "kind"},
	}
	for _, tc := range bad {
		e := ts.req("POST", "/api/v1/alert-rules", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field, "body %v: %v", tc.body, e.Error.Fields)
	}

	cpu := byName["cpu"]
	var patched ruleView
	e := ts.req("PATCH", "/api/v1/alert-rules/"+cpu.ID, ts.admin, map[string]any{"critical": 97, "kind": "offline"}).
		requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Equal(t, "is fixed for a built-in rule", e.Error.Fields["kind"])
	ts.req("PATCH", "/api/v1/alert-rules/"+cpu.ID, ts.admin, map[string]any{"critical": 97, "kind": "metric"}).
		requireStatus(t, http.StatusOK).into(t, &patched)
	require.Equal(t, 97.0, *patched.Critical)
	require.Equal(t, "metric", patched.Kind)
	ts.req("DELETE", "/api/v1/alert-rules/"+cpu.ID, ts.admin, nil).requireStatus(t, http.StatusConflict)
	ts.req("DELETE", "/api/v1/alert-rules/"+created.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	ts.req("GET", "/api/v1/alert-rules/"+created.ID, ts.read, nil).requireStatus(t, http.StatusNotFound)

	dev := ts.createDevice("nas", map[string]any{"enabled": false})
	path := "/api/v1/alert-rules/" + cpu.ID + "/overrides/" + dev.ID
	ts.req("PUT", path, ts.admin, map[string]any{"warning": 99}).requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("PUT", path, ts.admin, map[string]any{"warning": 90, "duration": "1h"}).requireStatus(t, http.StatusOK)
	var ovs struct {
		Items []struct {
			DeviceID string   `json:"device_id"`
			Warning  *float64 `json:"warning"`
			Duration *string  `json:"duration"`
		}
	}
	ts.req("GET", "/api/v1/alert-rules/"+cpu.ID+"/overrides", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &ovs)
	require.Len(t, ovs.Items, 1)
	require.Equal(t, 90.0, *ovs.Items[0].Warning)
	require.Equal(t, "1h0m0s", *ovs.Items[0].Duration)
	ts.req("DELETE", path, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	ts.req("DELETE", path, ts.admin, nil).requireStatus(t, http.StatusNotFound)
}

func TestMaintenanceWindows(t *testing.T) {
	ts := newServer(t)
	dev := ts.createDevice("nas", map[string]any{"enabled": false})
	var w struct {
		ID       string `json:"id"`
		Duration string `json:"duration"`
	}
	ts.req("POST", "/api/v1/maintenance-windows", ts.admin, map[string]any{"name": "nightly", "tag": "nas",
		"start_time": "02:00", "duration": "2h", "weekdays": []int{0, 6}, "time_zone": "Europe/Berlin"}).
		requireStatus(t, http.StatusCreated).into(t, &w)
	require.Equal(t, "2h0m0s", w.Duration)
	ts.req("POST", "/api/v1/maintenance-windows", ts.admin, map[string]any{"name": "upgrade", "device_id": dev.ID,
		"starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z"}).requireStatus(t, http.StatusCreated)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "tag": "a", "device_id": dev.ID, "start_time": "01:00", "duration": "1h"}, "device_id"},
		{map[string]any{"name": "x", "tag": "a", "start_time": "1am", "duration": "1h"}, "start_time"},
		{map[string]any{"name": "x", "tag": "a", "start_time": "01:00", "duration": "1h", "time_zone": "Nowhere/Land"}, "time_zone"},
		{map[string]any{"name": "x", "tag": "a", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T09:00:00Z"}, "ends_at"},
	} {
		e := ts.req("POST", "/api/v1/maintenance-windows", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field)
	}
	var list struct{ Items []json.RawMessage }
	ts.req("GET", "/api/v1/maintenance-windows", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 2)
	ts.req("DELETE", "/api/v1/maintenance-windows/"+w.ID, ts.operate, nil).requireStatus(t, http.StatusForbidden)
	ts.req("DELETE", "/api/v1/maintenance-windows/"+w.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
}

func TestNotificationChannels(t *testing.T) {
	ts := newServer(t)
	body := map[string]any{"name": "phone", "type": "gotify", "url": "http://192.168.77.1:1/", "token": "AbCdEf-app-token"}
	ts.req("POST", "/api/v1/notification-channels", ts.operate, body).requireStatus(t, http.StatusForbidden)
	r := ts.req("POST", "/api/v1/notification-channels", ts.admin, body).requireStatus(t, http.StatusCreated)
	require.NotContains(t, string(r.Body), "AbCdEf", "the token is never returned")
	var ch struct {
		ID          string `json:"id"`
		HasToken    bool   `json:"has_token"`
		MinSeverity string `json:"min_severity"`
		Rate        int    `json:"rate_per_minute"`
	}
	r.into(t, &ch)
	require.True(t, ch.HasToken)
	require.Equal(t, "warning", ch.MinSeverity)
	require.Equal(t, 30, ch.Rate)

	hook := map[string]any{"name": "hook", "type": "webhook", "url": "https://example.invalid/hook", "secret": "s3cr3t-value",
		"min_severity": "critical"}
	r = ts.req("POST", "/api/v1/notification-channels", ts.admin, hook).requireStatus(t, http.StatusCreated)
	require.NotContains(t, string(r.Body), "s3cr3t")

	// Credentials are encrypted at rest: the rows hold neither the token nor the secret (#15).
	var rows string
	require.NoError(t, ts.pool.QueryRow(context.Background(),
		`SELECT string_agg(token || ' ' || secret, ' ') FROM notification_channels`).Scan(&rows))
	require.NotContains(t, rows, "AbCdEf")
	require.NotContains(t, rows, "s3cr3t")

	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "g", "type": "gotify", "url": "http://h/"}, "token"},
		{map[string]any{"name": "g", "type": "fax", "url": "http://h/"}, "type"},
		{map[string]any{"name": "g", "type": "webhook", "url": "ftp://h/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://u:p@h/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://h/", "min_severity": "loud"}, "min_severity"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://h/", "rate_per_minute": 0}, "rate_per_minute"},
		// Server-side request forgery: loopback (unless INFRA_NOTIFY_ALLOW_LOOPBACK), link-local, metadata (#15).
		{map[string]any{"name": "g", "type": "webhook", "url": "http://127.0.0.1:8080/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://localhost:8080/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://[::1]/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://metadata.google.internal/"}, "url"},
		{map[string]any{"name": "g", "type": "webhook", "url": "http://0.0.0.0:80/"}, "url"},
	} {
		e := ts.req("POST", "/api/v1/notification-channels", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, tc.field)
	}

	e := ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"url": "http://169.254.169.254/"}).
		requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, e.Error.Fields, "url")

	// A PATCH without the token keeps it.
	ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"enabled": false}).requireStatus(t, http.StatusOK)
	stored, err := store.GetChannel(context.Background(), ts.pool, uuid.MustParse(ch.ID))
	require.NoError(t, err)
	require.NotContains(t, stored.Token, "AbCdEf")
	require.Equal(t, "AbCdEf-app-token", ts.open(stored.Token))
	require.False(t, stored.Enabled)

	// A PATCH with a new token seals the new one.
	ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"token": "GhIj-new-token"}).requireStatus(t, http.StatusOK)
	stored, err = store.GetChannel(context.Background(), ts.pool, uuid.MustParse(ch.ID))
	require.NoError(t, err)
	require.NotContains(t, stored.Token, "GhIj")
	require.Equal(t, "GhIj-new-token", ts.open(stored.Token))

	r = ts.req("GET", "/api/v1/notification-channels", ts.admin, nil).requireStatus(t, http.StatusOK)
	require.NotContains(t, string(r.Body), "AbCdEf")
	require.NotContains(t, string(r.Body), "s3cr3t")
	ts.req("GET", "/api/v1/notification-channels", ts.read, nil).requireStatus(t, http.StatusForbidden)
	for _, rec := range ts.auditRecords() {
		raw, _ := json.Marshal(rec)
		require.NotContains(t, string(raw), "AbCdEf", "the audit log holds no token")
		require.NotContains(t, string(raw), "s3cr3t")
	}
	ts.req("DELETE", "/api/v1/notification-channels/"+ch.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	ts.req("GET", "/api/v1/notification-channels/"+ch.ID, ts.admin, nil).requireStatus(t, http.StatusNotFound)
}

// TestNotificationChannelTargetsAndKey: INFRA_NOTIFY_ALLOW_LOOPBACK admits a receiver on the same host, and a
// server without a secret key refuses to store credentials rather than store them in the clear (#15).
func TestNotificationChannelTargetsAndKey(t *testing.T) {
	ts := newServer(t)
	lo := map[string]any{"name": "local", "type": "gotify", "url": "http://127.0.0.1:8080/", "token": "LoCaL-token"}
	ts.req("POST", "/api/v1/notification-channels", ts.admin, lo).requireStatus(t, http.StatusUnprocessableEntity)
	ts.cfg.NotifyAllowLoopback = true
	ts.req("POST", "/api/v1/notification-channels", ts.admin, lo).requireStatus(t, http.StatusCreated)
	meta := map[string]any{"name": "meta", "type": "webhook", "url": "http://169.254.169.254/"}
	ts.req("POST", "/api/v1/notification-channels", ts.admin, meta).requireStatus(t, http.StatusUnprocessableEntity)

	noKey := api.New(api.Deps{Config: ts.cfg, Pool: ts.pool, Log: quiet})
	body, err := json.Marshal(map[string]any{"name": "nokey", "type": "gotify", "url": "http://192.168.1.2/", "token": "NoKeY-token"})
	require.NoError(t, err)
	req := httptest.NewRequest("POST", "/api/v1/notification-channels", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := noKey.App().Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var n int
	require.NoError(t, ts.pool.QueryRow(context.Background(), `SELECT count(*) FROM notification_channels WHERE token LIKE '%NoKeY%'`).Scan(&n))
	require.Zero(t, n)
}

func TestAlertsAcknowledgeSilence(t *testing.T) {
	ts := newServer(t)
	ctx := context.Background()
	dev := ts.createDevice("nas", map[string]any{"enabled": false})
	rules, err := store.ListAlertRules(ctx, ts.pool)
	require.NoError(t, err)
	now := ts.clock.Now()
	v := 97.0
	al, err := store.OpenAlert(ctx, ts.pool, &store.Alert{RuleID: rules[0].ID, DeviceID: uuid.MustParse(dev.ID),
		Severity: "critical", Message: "cpu at 97.0%", Value: &v, PendingSince: now.Add(-5 * time.Minute), FiredAt: now})
	require.NoError(t, err)
	old, err := store.OpenAlert(ctx, ts.pool, &store.Alert{RuleID: rules[1].ID, DeviceID: uuid.MustParse(dev.ID),
		Severity: "warning", Message: "memory", PendingSince: now.Add(-72 * time.Hour), FiredAt: now.Add(-72 * time.Hour)})
	require.NoError(t, err)
	_, err = store.ResolveAlert(ctx, ts.pool, old.ID, now.Add(-48*time.Hour), 10)
	require.NoError(t, err)

	var list struct {
		Items []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
	}
	ts.req("GET", "/api/v1/alerts", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 1, "firing plus the last day's resolved alerts")
	require.Equal(t, al.ID.String(), list.Items[0].ID)
	ts.req("GET", "/api/v1/alerts?state=resolved", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 1)
	ts.req("GET", "/api/v1/alerts?since=96h", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 2)
	ts.req("GET", "/api/v1/alerts?since=96h&limit=1", ts.read, nil).requireStatus(t, http.StatusOK)
	ts.req("GET", "/api/v1/alerts?state=sad", ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("GET", "/api/v1/alerts?since=96h&severity=warning", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 1)
	require.Equal(t, old.ID.String(), list.Items[0].ID)
	ts.req("GET", "/api/v1/alerts?since=96h&rule_id="+rules[0].ID.String(), ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 1)
	require.Equal(t, al.ID.String(), list.Items[0].ID)
	ts.req("GET", "/api/v1/alerts?severity=dire", ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("GET", "/api/v1/alerts?rule_id=cpu", ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity)

	path := "/api/v1/alerts/" + al.ID.String()
	ts.req("POST", path+"/acknowledge", ts.read, nil).requireStatus(t, http.StatusForbidden)
	var got store.Alert
	ts.req("POST", path+"/acknowledge", ts.operate, nil).requireStatus(t, http.StatusOK).into(t, &got)
	require.NotNil(t, got.AcknowledgedAt)
	require.NotNil(t, got.AcknowledgedBy)

	ts.req("POST", path+"/silence", ts.operate, map[string]any{"duration": "2h"}).requireStatus(t, http.StatusOK).into(t, &got)
	require.WithinDuration(t, now.Add(2*time.Hour), *got.SilencedUntil, time.Second)
	ts.req("POST", path+"/silence", ts.operate, map[string]any{"until": now.Add(-time.Hour)}).requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("POST", path+"/silence", ts.operate, map[string]any{}).requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("POST", path+"/silence", ts.operate, map[string]any{"until": nil}).requireStatus(t, http.StatusOK).into(t, &got)
	require.Nil(t, got.SilencedUntil)
	ts.req("POST", "/api/v1/alerts/"+uuid.NewString()+"/acknowledge", ts.operate, nil).requireStatus(t, http.StatusNotFound)

	actions := map[string]int{}
	for _, rec := range ts.auditRecords() {
		if rec.Target == al.ID.String() {
			actions[rec.Action]++
		}
	}
	require.Equal(t, 1, actions["alert.acknowledge"])
	require.Equal(t, 4, actions["alert.silence"], "every attempt is audited, also the rejected ones")
}
