package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
)

// resAlerts is the resource of the alerts firing now and those resolved recently (#12).
const resAlerts = "infra://alerts"

// addAlertTools registers the alert tools (#12): list and get (read), acknowledge and silence (operate, audited
// like their REST routes, through the same code).
func (e *mcpEndpoint) addAlertTools() {
	e.tool(mcp.NewTool("list_alerts",
		mcp.WithDescription("List alerts, firing ones first, then newest first: rule, device, subject, severity, message, when it fired or resolved, and whether it is acknowledged or silenced. Without state: firing alerts and those resolved in the last 24 hours (or since since)."),
		annotations("List alerts", true, false, true, false),
		mcp.WithString("state", mcp.Description("Only alerts in this state."), mcp.Enum(store.AlertFiring, store.AlertResolved)),
		mcp.WithString("severity", mcp.Description("Only alerts of this severity."), mcp.Enum(alert.SeverityInfo, alert.SeverityWarning, alert.SeverityCritical)),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithString("rule", mcp.Description("Alert rule name or id; all rules when omitted.")),
		mcp.WithString("since", mcp.Description(`Resolved alerts since this: an RFC 3339 time or a duration ago such as "7d" (default 24h).`)),
		mcp.WithInteger("limit", mcp.Description("Most alerts to return."), mcp.DefaultNumber(mcpDefaultList), mcp.Min(1), mcp.Max(mcpMaxList)),
	), optionalDeviceTool(e, e.listAlerts))
	e.tool(mcp.NewTool("get_alert",
		mcp.WithDescription("One alert in detail: rule, device, subject, severity, state, message, value, when it became pending, fired and resolved, who acknowledged it, until when it is silenced, and how many notices were sent."),
		annotations("Get alert", true, false, true, false),
		mcp.WithString("alert", mcp.Required(), mcp.Description("Alert id (list_alerts shows them).")),
	), typedTool(e.getAlert))
	e.tool(mcp.NewTool("acknowledge_alert",
		mcp.WithDescription("Acknowledge an alert: someone is on it, so its escalation notices are no longer sent. The alert keeps firing until its condition clears."),
		annotations("Acknowledge alert", false, false, true, false),
		mcp.WithString("alert", mcp.Required(), mcp.Description("Alert id (list_alerts shows them).")),
	), typedTool(e.acknowledgeAlert))
	e.tool(mcp.NewTool("silence_alert",
		mcp.WithDescription("Hold back an alert's notices for a while (duration, e.g. \"2h\", or until a time, at most 90 days), or lift its silence (lift: true). The alert itself keeps its state."),
		annotations("Silence alert", false, false, true, false),
		mcp.WithString("alert", mcp.Required(), mcp.Description("Alert id (list_alerts shows them).")),
		mcp.WithString("duration", mcp.Description(`How long, in hours, minutes or seconds: "30m", "2h", "72h" (at most "2160h").`)),
		mcp.WithString("until", mcp.Description("Instead of duration: an RFC 3339 time in the future.")),
		mcp.WithBoolean("lift", mcp.Description("Lift the alert's silence instead (give neither duration nor until).")),
	), typedTool(e.silenceAlert))
}

// addAlertResources registers infra://alerts.
func (e *mcpEndpoint) addAlertResources() {
	e.srv.AddResource(mcp.NewResource(resAlerts, "alerts",
		mcp.WithResourceDescription("The alerts firing now, then those resolved in the last 24 hours: rule, device, subject, severity, message, times, acknowledgement and silence."),
		mcp.WithMIMEType("application/json")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			since := e.s.Now().Add(-service.RecentAlerts)
			alerts, _, err := store.ListAlerts(ctx, e.s.Pool, store.AlertFilter{Since: &since, Limit: mcpMaxList, FiringFirst: true})
			if err != nil {
				return nil, e.internal(err)
			}
			if alerts == nil {
				alerts = []*store.Alert{}
			}
			return jsonContents(req.Params.URI, map[string]any{"alerts": alerts})
		})
}

type listAlertsArgs struct {
	deviceRef
	limitArg
	State    string `json:"state"`
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	Since    string `json:"since"`
}

func (e *mcpEndpoint) listAlerts(ctx context.Context, call *toolCall, d *store.Device, args *listAlertsArgs) (*mcp.CallToolResult, error) {
	for name, v := range map[string]string{"state": args.State, "severity": args.Severity} {
		if err := call.oneOf(name, v); err != nil {
			return nil, err
		}
	}
	f := store.AlertFilter{State: args.State, Severity: args.Severity, Limit: args.Limit, FiringFirst: true}
	if d != nil {
		f.DeviceID = &d.ID
	}
	if strings.TrimSpace(args.Rule) != "" {
		r, err := e.resolveRule(ctx, args.Rule)
		if err != nil {
			return nil, err
		}
		f.RuleID = &r.ID
	}
	if f.State == "" {
		since := e.s.Now().Add(-service.RecentAlerts)
		if args.Since != "" {
			var err error
			if since, err = service.ParseTimeParam(args.Since, e.s.Now()); err != nil {
				return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "since "+err.Error())
			}
		}
		f.Since = &since
	}
	alerts, next, err := store.ListAlerts(ctx, e.s.Pool, f)
	if err != nil {
		return nil, err
	}
	now := e.s.Now()
	firing := 0
	for _, a := range alerts {
		if a.State == store.AlertFiring {
			firing++
		}
	}
	lines := []string{fmt.Sprintf("%d alert(s), %d firing; firing first, then newest first:", len(alerts), firing)}
	for _, a := range alerts {
		lines = append(lines, "- "+alertLine(a, now))
	}
	if next != nil {
		lines = append(lines, "More alerts exist: narrow with state, severity, device, rule or since, or raise limit.")
	}
	if alerts == nil {
		alerts = []*store.Alert{}
	}
	return textResult(map[string]any{"count": len(alerts), "alerts": alerts, "more": next != nil}, lines...), nil
}

// alertLine is one alert in a line the model reads.
func alertLine(a *store.Alert, now time.Time) string {
	subject := ""
	if a.Subject != "" {
		subject = " " + a.Subject
	}
	line := fmt.Sprintf("[%s %s] %s on %s%s: %s (id %s, fired %s", a.State, a.Severity, a.RuleName, a.DeviceName, subject,
		a.Message, a.ID, ago(now, &a.FiredAt))
	if a.ResolvedAt != nil {
		line += ", resolved " + ago(now, a.ResolvedAt)
	}
	if a.AcknowledgedAt != nil {
		by := ""
		if a.AcknowledgedBy != nil {
			by = " by " + *a.AcknowledgedBy
		}
		line += ", acknowledged" + by
	}
	if a.Silenced(now) {
		line += ", silenced until " + a.SilencedUntil.UTC().Format(time.RFC3339)
	}
	if a.InMaintenance {
		line += ", in a maintenance window"
	}
	return line + ")"
}

// resolveRule finds an alert rule by id or name.
func (e *mcpEndpoint) resolveRule(ctx context.Context, ref string) (*store.AlertRule, error) {
	ref = strings.TrimSpace(ref)
	if id, err := uuid.Parse(ref); err == nil {
		r, err := store.GetAlertRule(ctx, e.s.Pool, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, service.Errorf(http.StatusNotFound, "not_found", "no alert rule with id "+ref)
		}
		return r, err
	}
	rules, err := store.ListAlertRules(ctx, e.s.Pool)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(rules))
	for _, r := range rules {
		if strings.EqualFold(r.Name, ref) {
			return r, nil
		}
		names = append(names, r.Name)
	}
	return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no alert rule named %q; the rules are: %s", ref, strings.Join(names, ", ")))
}

type alertArg struct {
	Alert string `json:"alert"`
}

// loadAlert finds the alert the model named; a wrong id is a tool error that says where ids come from.
func (e *mcpEndpoint) loadAlert(ctx context.Context, ref string) (*store.Alert, error) {
	ref = strings.TrimSpace(ref)
	id, err := uuid.Parse(ref)
	if err != nil {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "alert must be an alert id (a UUID); list_alerts shows them")
	}
	a, err := store.GetAlert(ctx, e.s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.Errorf(http.StatusNotFound, "not_found", "no alert with id "+ref+"; list_alerts shows them")
	}
	return a, err
}

func (e *mcpEndpoint) getAlert(ctx context.Context, _ *toolCall, args *alertArg) (*mcp.CallToolResult, error) {
	a, err := e.loadAlert(ctx, args.Alert)
	if err != nil {
		return nil, err
	}
	lines := []string{alertLine(a, e.s.Now())}
	if a.Value != nil {
		lines = append(lines, fmt.Sprintf("Value: %g", *a.Value))
	}
	lines = append(lines, fmt.Sprintf("Notices sent: %d", a.Notices))
	return textResult(a, lines...), nil
}

func (e *mcpEndpoint) acknowledgeAlert(ctx context.Context, call *toolCall, args *alertArg) (*mcp.CallToolResult, error) {
	a, err := e.loadAlert(ctx, args.Alert)
	if err != nil {
		return nil, err
	}
	call.audit.target = "alert/" + a.ID.String()
	out, err := e.s.Acknowledge(ctx, a.ID, mcpToken(ctx))
	if err != nil {
		return nil, err
	}
	return textResult(out, "Acknowledged: "+alertLine(out, e.s.Now())), nil
}

type silenceAlertArgs struct {
	alertArg
	Duration string `json:"duration"`
	Until    string `json:"until"`
	Lift     bool   `json:"lift"`
}

func (e *mcpEndpoint) silenceAlert(ctx context.Context, call *toolCall, args *silenceAlertArgs) (*mcp.CallToolResult, error) {
	a, err := e.loadAlert(ctx, args.Alert)
	if err != nil {
		return nil, err
	}
	call.audit.target = "alert/" + a.ID.String()
	sp := service.SilenceSpec{Duration: strings.TrimSpace(args.Duration), Lift: args.Lift}
	if args.Until != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(args.Until))
		if err != nil {
			return nil, service.Invalid(map[string]string{"until": "must be an RFC 3339 time such as 2026-12-05T08:00:00Z"})
		}
		sp.Until = &t
	}
	until, field, msg := e.s.SilenceEnd(sp, "until, lift: true")
	if field != "" {
		return nil, service.Invalid(map[string]string{field: msg})
	}
	call.audit.detail = map[string]any{"until": until}
	out, err := store.SilenceAlert(ctx, e.s.Pool, a.ID, until)
	if err != nil {
		return nil, err
	}
	text := "Silence lifted: " + alertLine(out, e.s.Now())
	if until != nil {
		text = "Silenced until " + until.UTC().Format(time.RFC3339) + ": " + alertLine(out, e.s.Now())
	}
	return textResult(out, text), nil
}
