package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Bounds of a system log search (#12).
const (
	// SystemLogTimeout bounds the search command on the device; a search that runs longer is cut, and what it
	// printed so far is returned marked truncated.
	SystemLogTimeout = 30 * time.Second
	// MaxSystemLogBytes caps the message text one search stores for the API; the newest entries are kept.
	MaxSystemLogBytes = 2 << 20
)

// SystemLogsInput asks for a search of a device's system log. The entries are written to log_fetches under
// FetchID for the API to read; only counts come back, so log contents never enter workflow history.
type SystemLogsInput struct {
	FetchID  string
	DeviceID string
	Query    journal.Query
}

// SystemLogsResult tells how much was found.
type SystemLogsResult struct {
	Source    string
	Entries   int
	Truncated bool
}

// SearchSystemLogs runs the system log search script (journald, else the syslog files or busybox logread) on the
// device and stores the parsed entries for the API.
func (a *Activities) SearchSystemLogs(ctx context.Context, in SystemLogsInput) (*SystemLogsResult, error) {
	id, err1 := uuid.Parse(in.DeviceID)
	fetchID, err2 := uuid.Parse(in.FetchID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	f, err := in.Query.Normalize()
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, err
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	script := journal.Script(f)
	if a.systemLogScript != nil {
		script = a.systemLogScript(f)
	}
	res, err := a.SSH.Run(sshpool.WithCommandTimeout(ctx, SystemLogTimeout), target, script, nil)
	cut := false
	if err != nil {
		// A search that ran out of its time keeps what it printed: the parser marks it truncated, since the end
		// marker is missing.
		if sshpool.KindOf(err) != sshpool.Timeout || res == nil || len(res.Stdout) == 0 || ctx.Err() != nil {
			if sshpool.KindOf(err) == sshpool.CommandFailed && res != nil {
				return nil, temporal.NewNonRetryableApplicationError("log search failed: "+quoteOutput([]byte(firstLine(res.Stderr))), ErrTypeCommandFailed, nil)
			}
			return nil, a.sshFailure(ctx, dev, err)
		}
		cut = true
	}
	parsed, err := journal.Parse(res.Stdout, f, a.now())
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the device printed no log search output", ErrTypeCommandFailed, nil)
	}
	parsed.Truncated = parsed.Truncated || cut || res.Truncated
	if capEntries(&parsed, MaxSystemLogBytes) {
		parsed.Truncated = true
	}
	body, err := json.Marshal(parsed)
	if err != nil {
		return nil, err
	}
	if _, err := a.DB.Exec(ctx, `INSERT INTO log_fetches (id, device_id, body) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET body = excluded.body`, fetchID, id, body); err != nil {
		return nil, fmt.Errorf("store system logs: %w", err)
	}
	_, _ = a.DB.Exec(ctx, `DELETE FROM log_fetches WHERE created_at < now() - interval '1 hour'`)
	return &SystemLogsResult{Source: parsed.Source, Entries: len(parsed.Entries), Truncated: parsed.Truncated}, nil
}

// capEntries keeps the newest entries whose messages fit in maxBytes and reports whether any were dropped.
func capEntries(r *journal.Result, maxBytes int) bool {
	size, first := 0, len(r.Entries)
	for first > 0 && size+len(r.Entries[first-1].Message) <= maxBytes {
		first--
		size += len(r.Entries[first].Message)
	}
	if first == 0 {
		return false
	}
	r.Entries = append(r.Entries[:0], r.Entries[first:]...)
	return true
}
