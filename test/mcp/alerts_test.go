package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// TestMCPAlerts drives the alert tools and the infra://alerts resource of a running system with both clients
// (#12): a read token lists and reads alerts but cannot acknowledge or silence them (the refusal is audited); an
// operate token can, and its calls are audited; a read-only server hides the actions from every token.
func TestMCPAlerts(t *testing.T) {
	st := teststack.Start(t, teststack.WithoutWorker(), teststack.WithReadOnlyMCP(), teststack.WithTokenPrefix("mcp"))
	sys := &system{DB: st.DB, URL: st.URL, ReadOnlyURL: st.ReadOnlyURL + mcpapi.MCPPath, Admin: st.Token,
		Operate: st.OperateToken, Read: st.ReadToken}
	ctx := context.Background()

	dev, err := store.CreateDevice(ctx, sys.DB, &store.Device{Name: "nas", Host: "192.0.2.10", Port: 22, User: "monitor",
		DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	rules, err := store.ListAlertRules(ctx, sys.DB)
	require.NoError(t, err)
	now := time.Now()
	firing, err := store.OpenAlert(ctx, sys.DB, &store.Alert{RuleID: rules[0].ID, DeviceID: dev.ID, Severity: "critical",
		Message: "disk at 97%", PendingSince: now.Add(-3 * time.Hour), FiredAt: now.Add(-3 * time.Hour)})
	require.NoError(t, err)
	resolved, err := store.OpenAlert(ctx, sys.DB, &store.Alert{RuleID: rules[1].ID, DeviceID: dev.ID, Severity: "warning",
		Message: "memory at 91%", PendingSince: now.Add(-time.Hour), FiredAt: now.Add(-time.Hour)})
	require.NoError(t, err)
	_, err = store.ResolveAlert(ctx, sys.DB, resolved.ID, now.Add(-time.Minute), 50)
	require.NoError(t, err)
	id := firing.ID.String()

	t.Run("a read token lists and reads, but cannot act", func(t *testing.T) {
		c, _ := connect(t, sys.mcpURL(), sys.Read)
		names := toolNames(t, c)
		require.Contains(t, names, "list_alerts")
		require.Contains(t, names, "get_alert")
		require.NotContains(t, names, "acknowledge_alert")
		require.NotContains(t, names, "silence_alert")

		res := call(t, c, "list_alerts", nil, nil)
		require.False(t, res.IsError, textOf(res))
		var list struct {
			Alerts []store.Alert `json:"alerts"`
		}
		structured(t, res, &list)
		require.Len(t, list.Alerts, 2)
		require.Equal(t, firing.ID, list.Alerts[0].ID, "firing first")

		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "acknowledge_alert", map[string]any{"alert": id}
		res, err := c.CallTool(ctx, req)
		if err == nil {
			require.True(t, res.IsError, textOf(res))
		}
		var n int
		require.NoError(t, sys.DB.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'auth.forbidden'
			AND target = 'mcp.acknowledge_alert' AND token_name = 'mcp-read'`).Scan(&n))
		require.Equal(t, 1, n, "the refused call is audited")

		rr := mcp.ReadResourceRequest{}
		rr.Params.URI = "infra://alerts"
		out, err := c.ReadResource(ctx, rr)
		require.NoError(t, err)
		require.Len(t, out.Contents, 1)
		var doc struct {
			Alerts []store.Alert `json:"alerts"`
		}
		require.NoError(t, json.Unmarshal([]byte(out.Contents[0].(mcp.TextResourceContents).Text), &doc))
		require.Len(t, doc.Alerts, 2)
		require.Equal(t, firing.ID, doc.Alerts[0].ID)
	})

	t.Run("a read-only server hides the actions from an operate token", func(t *testing.T) {
		c, _ := connect(t, sys.ReadOnlyURL, sys.Operate)
		names := toolNames(t, c)
		require.Contains(t, names, "list_alerts")
		require.NotContains(t, names, "acknowledge_alert")
		require.NotContains(t, names, "silence_alert")
	})

	t.Run("an operate token acknowledges, audited", func(t *testing.T) {
		c, _ := connect(t, sys.mcpURL(), sys.Operate)
		res := call(t, c, "acknowledge_alert", map[string]any{"alert": id}, nil)
		require.False(t, res.IsError, textOf(res))
		a, err := store.GetAlert(ctx, sys.DB, firing.ID)
		require.NoError(t, err)
		require.NotNil(t, a.AcknowledgedAt)
		require.Equal(t, "mcp-operate", *a.AcknowledgedBy)
		var target, outcome string
		require.NoError(t, sys.DB.QueryRow(ctx, `SELECT target, outcome FROM audit_log WHERE action = 'mcp.acknowledge_alert'
			AND token_name = 'mcp-operate'`).Scan(&target, &outcome))
		require.Equal(t, "alert/"+id, target)
		require.Equal(t, "success", outcome)
	})

	t.Run("TypeScript SDK client", func(t *testing.T) {
		out := runNodeScript(t, "alerts.mjs", sys.mcpURL(), sys.Read, sys.Operate, id)
		var summary struct {
			ReadTools     []string  `json:"read_alert_tools"`
			OperateTools  []string  `json:"operate_alert_tools"`
			FirstState    string    `json:"read_list_first_state"`
			ReadRefused   bool      `json:"read_acknowledge_refused"`
			ResourceIDs   []string  `json:"resource_ids"`
			SilencedUntil time.Time `json:"silenced_until"`
			Lifted        bool      `json:"lifted"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &summary), out)
		require.Equal(t, []string{"get_alert", "list_alerts"}, summary.ReadTools)
		require.Equal(t, []string{"acknowledge_alert", "get_alert", "list_alerts", "silence_alert"}, summary.OperateTools)
		require.Equal(t, store.AlertFiring, summary.FirstState)
		require.True(t, summary.ReadRefused)
		require.Equal(t, []string{id, resolved.ID.String()}, summary.ResourceIDs)
		require.WithinDuration(t, time.Now().Add(90*time.Minute), summary.SilencedUntil, 5*time.Minute)
		require.True(t, summary.Lifted)

		a, err := store.GetAlert(ctx, sys.DB, firing.ID)
		require.NoError(t, err)
		require.Nil(t, a.SilencedUntil, "the silence was lifted")
		rows, err := sys.DB.Query(ctx, `SELECT outcome FROM audit_log WHERE action = 'mcp.silence_alert'
			AND token_name = 'mcp-operate' AND target = $1 ORDER BY id`, "alert/"+id)
		require.NoError(t, err)
		var outcomes []string
		for rows.Next() {
			var o string
			require.NoError(t, rows.Scan(&o))
			outcomes = append(outcomes, o)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"success", "failure", "success"}, outcomes)
	})
}

// runNodeScript runs one of this directory's TypeScript SDK scripts with node (installing its npm packages first
// when missing) and returns the last line of its output, its JSON summary.
func runNodeScript(t *testing.T, script string, args ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (apt-get install -y nodejs npm); the TypeScript SDK client test needs it")
	}
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		npm, err := exec.LookPath("npm")
		require.NoError(t, err, "npm is needed to install the TypeScript SDK")
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm ci: %s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s failed:\nstdout: %s\nstderr: %s", script, stdout.String(), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1]
}
