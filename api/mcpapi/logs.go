package mcpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Bounds of get_system_logs: a model reads the text, so the default is small.
const (
	mcpDefaultSystemLogLimit = 100
	mcpMaxSystemLogLimit     = 1000
)

// addSystemLogTools registers get_system_logs (#12).
func (e *mcpEndpoint) addSystemLogTools() {
	e.tool(mcp.NewTool("get_system_logs",
		mcp.WithDescription("Search a device's system log now (journald; /var/log/syslog, /var/log/messages or busybox logread when journald is absent): "+
			"the newest matching entries with time, priority, unit, PID and message, oldest first. Filters narrow the search on the device; "+
			"the result says when it was cut by the size or time bound, and which filters the source could not apply."),
		annotations("Get system logs", true, false, true, true),
		deviceArg,
		mcp.WithString("unit", mcp.Description(`A systemd unit, e.g. "nginx" (= nginx.service) or "docker.socket".`)),
		mcp.WithString("priority", mcp.Description("This priority or more severe."),
			mcp.Enum("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")),
		mcp.WithString("since", mcp.Description(`Only entries after this: an RFC 3339 time or a duration ago such as "1h".`)),
		mcp.WithString("until", mcp.Description(`Only entries before this: an RFC 3339 time or a duration ago.`)),
		mcp.WithString("grep", mcp.Description("A plain, case-insensitive substring of the message (not a pattern), at most 256 bytes.")),
		mcp.WithString("boot", mcp.Description(`journald only: "current", an offset such as "-1" (the boot before), or a boot ID.`)),
		mcp.WithInteger("limit", mcp.Description("Most entries to return (the newest)."), mcp.DefaultNumber(mcpDefaultSystemLogLimit),
			mcp.Min(1), mcp.Max(mcpMaxSystemLogLimit)),
	), deviceTool(e, e.getSystemLogs))
}

type getSystemLogsArgs struct {
	deviceRef
	limitArg
	Unit     string `json:"unit"`
	Priority string `json:"priority"`
	Since    string `json:"since"`
	Until    string `json:"until"`
	Grep     string `json:"grep"`
	Boot     string `json:"boot"`
}

func (e *mcpEndpoint) getSystemLogs(ctx context.Context, _ *toolCall, d *store.Device, args *getSystemLogsArgs) (*mcp.CallToolResult, error) {
	vals := map[string]string{"unit": args.Unit, "priority": args.Priority, "since": args.Since, "until": args.Until,
		"grep": args.Grep, "boot": args.Boot, "limit": strconv.Itoa(args.Limit)}
	q, fields := service.SystemLogQuery(func(k string) string { return vals[k] }, e.s.Now())
	if len(fields) > 0 {
		var msgs []string
		for _, k := range []string{"unit", "priority", "since", "until", "grep", "boot", "limit", "query"} {
			if r, ok := fields[k]; ok {
				msgs = append(msgs, k+": "+r)
			}
		}
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "invalid arguments: "+strings.Join(msgs, "; "))
	}
	res, err := e.s.SearchSystemLogs(ctx, d, q)
	if err != nil {
		return nil, err
	}
	remote, _ := ctx.Value(mcpRemoteKey).(string)
	e.s.AuditRead(mcpToken(ctx), remote, service.AuditReadSystemLogs, "device/"+d.ID.String()+"/logs", service.SystemLogAuditDetail("mcp", q, res))
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d entries from %s on %s (oldest first", len(res.Entries), res.Source, d.Name)
	if res.Truncated {
		sb.WriteString("; cut by the size or time bound: narrow the search for the rest")
	}
	if len(res.Unapplied) > 0 {
		sb.WriteString("; this source could not apply: " + strings.Join(res.Unapplied, ", "))
	}
	sb.WriteString("):\n")
	if res.Source == journal.SourceNone {
		sb.WriteString("The device has no journald, no /var/log/syslog or /var/log/messages and no logread.\n")
	}
	for _, en := range res.Entries {
		sb.WriteString(systemLogLine(en))
		sb.WriteByte('\n')
	}
	return mcp.NewToolResultStructured(service.SystemLogAnswer(d, res), sb.String()), nil
}

// systemLogLine is one entry as text: "time priority unit ident[pid]: message".
func systemLogLine(en journal.Entry) string {
	var b strings.Builder
	if !en.Time.IsZero() {
		b.WriteString(en.Time.UTC().Format(time.RFC3339Nano))
	}
	if en.Priority != "" {
		b.WriteString(" " + en.Priority)
	}
	if en.Unit != "" {
		b.WriteString(" " + en.Unit)
	}
	if en.Identifier != "" {
		b.WriteString(" " + en.Identifier)
		if en.PID > 0 {
			b.WriteString("[" + strconv.Itoa(en.PID) + "]")
		}
	}
	b.WriteString(": " + en.Message)
	return b.String()
}
