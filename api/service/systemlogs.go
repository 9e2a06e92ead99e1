package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/store"
	"go.temporal.io/sdk/temporal"
)

// AuditReadSystemLogs records every read of a device's system log (#12), like auditReadContainerLogs.
const AuditReadSystemLogs = "read.system_logs"

// systemLogsTimeout bounds how long a system log request waits for the device: the search's own bound plus the
// dial and the workflow's start.
const systemLogsTimeout = activities.SystemLogTimeout + 30*time.Second

// SystemLogSearcher runs system log searches (workflows.Client in production). It is separate from Workflows so
// a Workflows without it answers 503 on the logs routes instead of failing to build.
type SystemLogSearcher interface {
	SearchSystemLogs(ctx context.Context, in activities.SystemLogsInput) (*activities.SystemLogsResult, error)
}

// SystemLogQuery reads a search from named values (query parameters or tool arguments). since and until also
// take a duration ago ("15m", "2h"), turned into a time against now. It returns the fields that are wrong.
func SystemLogQuery(get func(string) string, now time.Time) (journal.Query, map[string]string) {
	q := journal.Query{Unit: get("unit"), Priority: get("priority"), Grep: get("grep"), Boot: get("boot")}
	fields := map[string]string{}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"since", &q.Since}, {"until", &q.Until}} {
		v := strings.TrimSpace(get(t.name))
		if d, err := time.ParseDuration(v); err == nil && v != "" {
			if d <= 0 || d > 20*366*24*time.Hour {
				fields[t.name] = "a duration ago must be positive and at most 20 years"
				continue
			}
			v = now.Add(-d).UTC().Format(time.RFC3339Nano)
		}
		*t.dst = v
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > journal.MaxLimit {
			fields["limit"] = "must be a number from 1 to " + strconv.Itoa(journal.MaxLimit)
		} else {
			q.Limit = n
		}
	}
	// Every field is checked on its own, so one answer names every wrong field.
	for name, one := range map[string]journal.Query{"unit": {Unit: q.Unit}, "priority": {Priority: q.Priority},
		"since": {Since: q.Since}, "until": {Until: q.Until}, "grep": {Grep: q.Grep}, "boot": {Boot: q.Boot}} {
		if _, bad := fields[name]; bad {
			continue
		}
		if _, err := one.Normalize(); err != nil {
			fields[name] = argReason(err)
		}
	}
	if len(fields) == 0 {
		if _, err := q.Normalize(); err != nil { // the checks across fields: until before since
			var ae *journal.ArgError
			if errors.As(err, &ae) {
				fields[ae.Field] = ae.Reason
			} else {
				fields["query"] = err.Error()
			}
		}
	}
	return q, fields
}

func argReason(err error) string {
	var ae *journal.ArgError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return err.Error()
}

// SystemLogAuditDetail is the audit detail of a system-log search: the interface, the query and how much it returned.
func SystemLogAuditDetail(iface string, q journal.Query, res *journal.Result) map[string]any {
	return map[string]any{"interface": iface, "unit": q.Unit, "priority": q.Priority, "since": q.Since, "until": q.Until,
		"grep": q.Grep != "", "boot": q.Boot, "limit": q.Limit, "source": res.Source, "entries": len(res.Entries)}
}

// SearchSystemLogs runs the SystemLogs workflow and takes the entries it stored (deleting them: they are read
// once). Errors are API errors.
func (s *Service) SearchSystemLogs(ctx context.Context, d *store.Device, q journal.Query) (*journal.Result, error) {
	wf, ok := s.Workflows.(SystemLogSearcher)
	if !ok {
		return nil, Errorf(http.StatusServiceUnavailable, "unavailable", "system log search needs the workflow service")
	}
	in := activities.SystemLogsInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(), Query: q}
	lctx, cancel := context.WithTimeout(ctx, systemLogsTimeout)
	defer cancel()
	if _, err := wf.SearchSystemLogs(lctx, in); err != nil {
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &app) && app.Type() == activities.ErrTypeInvalidInput:
			return nil, Errorf(http.StatusUnprocessableEntity, "invalid_input", app.Message())
		case errors.As(err, &app):
			return nil, Errorf(http.StatusBadGateway, "device_error", "could not read the system log of "+d.Name+": "+app.Message())
		case errors.Is(err, context.DeadlineExceeded):
			return nil, Errorf(http.StatusGatewayTimeout, "timeout", "the device did not answer in time")
		}
		return nil, err
	}
	var body []byte
	if err := s.Pool.QueryRow(context.WithoutCancel(ctx), `DELETE FROM log_fetches WHERE id = $1 RETURNING body`,
		in.FetchID).Scan(&body); err != nil {
		return nil, err
	}
	var res journal.Result
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, err
	}
	if res.Entries == nil {
		res.Entries = []journal.Entry{}
	}
	return &res, nil
}

// SystemLogAnswer is the JSON answer of a search (REST and MCP alike).
func SystemLogAnswer(d *store.Device, res *journal.Result) map[string]any {
	m := map[string]any{"device_id": d.ID, "source": res.Source, "entries": res.Entries, "truncated": res.Truncated}
	if res.Skipped > 0 {
		m["skipped"] = res.Skipped
	}
	if len(res.Unapplied) > 0 {
		m["unapplied"] = res.Unapplied
	}
	return m
}
