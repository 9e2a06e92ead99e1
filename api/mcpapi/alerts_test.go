package mcpapi

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// alertFixture is a device with two alerts: an older one still firing and a newer one already resolved, so "firing
// first" and "newest first" disagree.
type alertFixture struct {
	dev              *store.Device
	firing, resolved *store.Alert
	firingRule       *store.AlertRule
}

func (h *mcpHarness) alerts(t *testing.T) alertFixture {
	t.Helper()
	ctx := context.Background()
	dev := h.device(t, "nas")
	rules, err := store.ListAlertRules(ctx, h.pool)
	must.NoError(t, err)
	must.GreaterOrEqual(t, len(rules), 2)
	now := time.Now()
	v := 97.0
	firing, err := store.OpenAlert(ctx, h.pool, &store.Alert{RuleID: rules[0].ID, DeviceID: dev.ID, Subject: "/",
		Severity: "critical", Message: "disk at 97%", Value: &v, PendingSince: now.Add(-2 * time.Hour), FiredAt: now.Add(-2 * time.Hour)})
	must.NoError(t, err)
	resolved, err := store.OpenAlert(ctx, h.pool, &store.Alert{RuleID: rules[1].ID, DeviceID: dev.ID,
		Severity: "warning", Message: "memory at 91%", PendingSince: now.Add(-time.Hour), FiredAt: now.Add(-time.Hour)})
	must.NoError(t, err)
	resolved, err = store.ResolveAlert(ctx, h.pool, resolved.ID, now.Add(-10*time.Minute), 50)
	must.NoError(t, err)
	return alertFixture{dev: dev, firing: firing, resolved: resolved, firingRule: rules[0]}
}

// alertIDs are the ids of a list_alerts result in order.
func alertIDs(t *testing.T, res *mcp.CallToolResult) []string {
	t.Helper()
	m, ok := res.StructuredContent.(map[string]any)
	must.True(t, ok, "structured content: %#v", res.StructuredContent)
	list, _ := m["alerts"].([]any)
	var out []string
	for _, a := range list {
		out = append(out, a.(map[string]any)["id"].(string))
	}
	return out
}

func TestMCPAlertTools(t *testing.T) {
	t.Parallel()
	h := newMCPHarness(t, store.ScopeRead)
	fx := h.alerts(t)

	t.Run("list_alerts puts firing alerts first", func(t *testing.T) {
		res, text := h.call(t, "list_alerts", nil)
		must.False(t, res.IsError, text)
		must.Equal(t, []string{fx.firing.ID.String(), fx.resolved.ID.String()}, alertIDs(t, res))
		must.Contains(t, text, "2 alert(s), 1 firing")
		must.Contains(t, text, "[firing critical]")
		must.Contains(t, text, "disk at 97%")
	})

	t.Run("list_alerts filters", func(t *testing.T) {
		for _, tt := range []struct {
			args map[string]any
			want []string
		}{
			{map[string]any{"state": "resolved"}, []string{fx.resolved.ID.String()}},
			{map[string]any{"severity": "critical"}, []string{fx.firing.ID.String()}},
			{map[string]any{"rule": fx.firingRule.Name}, []string{fx.firing.ID.String()}},
			{map[string]any{"rule": fx.firingRule.ID.String()}, []string{fx.firing.ID.String()}},
			{map[string]any{"device": "nas", "limit": 1}, []string{fx.firing.ID.String()}},
			{map[string]any{"since": "5m"}, []string{fx.firing.ID.String()}},
		} {
			res, text := h.call(t, "list_alerts", tt.args)
			must.False(t, res.IsError, "%v: %s", tt.args, text)
			must.Equal(t, tt.want, alertIDs(t, res), "%v: %s", tt.args, text)
		}
		other := h.device(t, "web-1")
		res, text := h.call(t, "list_alerts", map[string]any{"device": other.Name})
		must.False(t, res.IsError, text)
		must.Empty(t, alertIDs(t, res))
	})

	t.Run("bad filters are tool errors", func(t *testing.T) {
		for _, tt := range []struct {
			args map[string]any
			want string
		}{
			{map[string]any{"state": "open"}, "state must be firing or resolved"},
			{map[string]any{"severity": "dire"}, "severity must be info, warning or critical"},
			{map[string]any{"rule": "no-such-rule"}, `no alert rule named "no-such-rule"`},
			{map[string]any{"device": "no-such-device"}, "call list_devices"},
			{map[string]any{"since": "yesterday-ish"}, "since"},
		} {
			res, text := h.call(t, "list_alerts", tt.args)
			must.True(t, res.IsError, "%v: %s", tt.args, text)
			must.Contains(t, text, tt.want)
		}
	})

	t.Run("get_alert", func(t *testing.T) {
		res, text := h.call(t, "get_alert", map[string]any{"alert": fx.firing.ID.String()})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "Value: 97")
		m := res.StructuredContent.(map[string]any)
		must.Equal(t, fx.firing.ID.String(), m["id"])
		must.Equal(t, "nas", m["device"])

		for ref, want := range map[string]string{"not-an-id": "must be an alert id", uuid.NewString(): "no alert with id"} {
			res, text = h.call(t, "get_alert", map[string]any{"alert": ref})
			must.True(t, res.IsError, text)
			must.Contains(t, text, want)
			must.Contains(t, text, "list_alerts")
		}
	})
}

// TestMCPAlertActionsNeedOperate: a read token neither sees nor can call acknowledge_alert and silence_alert; an
// operate token acknowledges and silences through the same code as REST, and every call is audited.
func TestMCPAlertActionsNeedOperate(t *testing.T) {
	t.Parallel()
	read := newMCPHarness(t, store.ScopeRead)
	fx := read.alerts(t)
	res, err := read.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	must.NoError(t, err)
	seen := map[string]bool{}
	for _, tl := range res.Tools {
		seen[tl.Name] = true
	}
	must.True(t, seen["list_alerts"])
	must.True(t, seen["get_alert"])
	must.False(t, seen["acknowledge_alert"])
	must.False(t, seen["silence_alert"])
	for _, tool := range []string{"acknowledge_alert", "silence_alert"} {
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = map[string]any{"alert": fx.firing.ID.String(), "duration": "1h"}
		res, err := read.c.CallTool(t.Context(), req)
		if err == nil {
			must.True(t, res.IsError, "a read token called %s: %v", tool, res.Content)
		}
	}
	a, err := store.GetAlert(context.Background(), read.pool, fx.firing.ID)
	must.NoError(t, err)
	must.Nil(t, a.AcknowledgedAt)
	must.Nil(t, a.SilencedUntil)

	h := newMCPHarness(t, store.ScopeOperate)
	fx = h.alerts(t)
	id := fx.firing.ID.String()

	t.Run("acknowledge", func(t *testing.T) {
		res, text := h.call(t, "acknowledge_alert", map[string]any{"alert": id})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "acknowledged by "+store.ScopeOperate)
		a, err := store.GetAlert(context.Background(), h.pool, fx.firing.ID)
		must.NoError(t, err)
		must.NotNil(t, a.AcknowledgedAt)
		must.Equal(t, store.ScopeOperate, *a.AcknowledgedBy)
	})

	t.Run("silence for a duration, then lift", func(t *testing.T) {
		res, text := h.call(t, "silence_alert", map[string]any{"alert": id, "duration": "2h"})
		must.False(t, res.IsError, text)
		a, err := store.GetAlert(context.Background(), h.pool, fx.firing.ID)
		must.NoError(t, err)
		must.NotNil(t, a.SilencedUntil)
		must.WithinDuration(t, time.Now().Add(2*time.Hour), *a.SilencedUntil, time.Minute)

		until := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
		res, text = h.call(t, "silence_alert", map[string]any{"alert": id, "until": until.Format(time.RFC3339)})
		must.False(t, res.IsError, text)
		a, err = store.GetAlert(context.Background(), h.pool, fx.firing.ID)
		must.NoError(t, err)
		must.True(t, until.Equal(*a.SilencedUntil), "%v", a.SilencedUntil)

		res, text = h.call(t, "silence_alert", map[string]any{"alert": id, "lift": true})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "Silence lifted")
		a, err = store.GetAlert(context.Background(), h.pool, fx.firing.ID)
		must.NoError(t, err)
		must.Nil(t, a.SilencedUntil)
	})

	t.Run("bad silences name the argument", func(t *testing.T) {
		for _, tt := range []struct {
			args map[string]any
			want string
		}{
			{map[string]any{}, "give until, lift: true or duration"},
			{map[string]any{"duration": "3d"}, "duration must be a duration between 1s and 2160h"},
			{map[string]any{"duration": "1h", "until": time.Now().Add(time.Hour).Format(time.RFC3339)}, "give until or duration, not both"},
			{map[string]any{"until": time.Now().Add(-time.Hour).Format(time.RFC3339)}, "until must be in the future"},
			{map[string]any{"until": "tomorrow"}, "until must be an RFC 3339 time"},
			{map[string]any{"lift": true, "duration": "1h"}, "lifting the silence takes neither"},
		} {
			tt.args["alert"] = id
			res, text := h.call(t, "silence_alert", tt.args)
			must.True(t, res.IsError, "%v: %s", tt.args, text)
			must.Contains(t, text, tt.want)
		}
	})

	t.Run("every call is audited with the alert as target", func(t *testing.T) {
		rows, err := h.pool.Query(context.Background(), `SELECT action, target, outcome FROM audit_log
			WHERE action IN ('mcp.acknowledge_alert', 'mcp.silence_alert') ORDER BY id`)
		must.NoError(t, err)
		var got []string
		for rows.Next() {
			var action, target, outcome string
			must.NoError(t, rows.Scan(&action, &target, &outcome))
			got = append(got, action+" "+target+" "+outcome)
		}
		must.NoError(t, rows.Err())
		target := "alert/" + id
		want := []string{"mcp.acknowledge_alert " + target + " success"}
		for range 3 {
			want = append(want, "mcp.silence_alert "+target+" success")
		}
		for range 6 {
			want = append(want, "mcp.silence_alert "+target+" failure")
		}
		must.Equal(t, want, got)
	})
}
