package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// MaxLogBytes caps the log text one request returns; the newest lines are kept.
const MaxLogBytes = 1 << 20

// maxLogLines bounds the lines MergeLogs reads per stream: docker logs prints at most docker.MaxLogTail.
const maxLogLines = docker.MaxLogTail

// LogLine is one line of container output.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"` // stdout or stderr
	Text   string    `json:"text"`
}

// LogFetch is what FetchLogs stores for the API.
type LogFetch struct {
	Lines     []LogLine `json:"lines"`
	Truncated bool      `json:"truncated"`
}

// FetchLogs runs docker logs on the device and stores the lines, stdout and stderr marked and merged in time
// order, for the API to read.
func (a *Activities) FetchLogs(ctx context.Context, in FetchLogsInput) (*FetchLogsResult, error) {
	id, err1 := uuid.Parse(in.DeviceID)
	fetchID, err2 := uuid.Parse(in.FetchID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	cmd, err := docker.Logs(in.Ref, docker.LogOptions{Tail: in.Tail, Since: in.Since, Until: in.Until})
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
	res, err := a.runDockerCommand(ctx, dev, target, cmd)
	if err != nil {
		if sshpool.KindOf(err) == sshpool.CommandFailed && res != nil {
			msg := quoteOutput([]byte(firstLine(res.Stderr)))
			if strings.Contains(msg, "No such container") {
				return nil, temporal.NewNonRetryableApplicationError("container "+in.Ref+" not found on "+dev.Name, ErrTypeContainerNotFound, nil)
			}
			return nil, temporal.NewNonRetryableApplicationError("docker logs failed: "+msg, ErrTypeCommandFailed, nil)
		}
		return nil, a.sshFailure(ctx, dev, err)
	}
	fetch := MergeLogs(res.Stdout, res.Stderr, MaxLogBytes)
	fetch.Truncated = fetch.Truncated || res.Truncated
	body, err := json.Marshal(fetch)
	if err != nil {
		return nil, err
	}
	if _, err := a.DB.Exec(ctx, `INSERT INTO log_fetches (id, device_id, body) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET body = excluded.body`, fetchID, id, body); err != nil {
		return nil, fmt.Errorf("store logs: %w", err)
	}
	// Fetches the API never collected (a client that gave up) do not pile up.
	_, _ = a.DB.Exec(ctx, `DELETE FROM log_fetches WHERE created_at < now() - interval '1 hour'`)
	return &FetchLogsResult{Lines: len(fetch.Lines), Truncated: fetch.Truncated}, nil
}

// MergeLogs parses `docker logs --timestamps` output of both streams, merges them by time and keeps the newest
// lines within maxBytes of text.
//
// Each stream is read from its end and at most maxLogLines of its lines are kept: docker prints no more than
// that, so a device printing millions of short lines costs no more than one printing the most docker would
// (#15); the fetch is then marked truncated.
func MergeLogs(stdout, stderr []byte, maxBytes int) LogFetch {
	var lines []LogLine
	cut := false
	for _, src := range []struct {
		name string
		b    []byte
	}{{"stdout", stdout}, {"stderr", stderr}} {
		s := strings.TrimRight(string(src.b), "\n")
		first := len(lines)
		for end := len(s); end > 0; {
			start := strings.LastIndexByte(s[:end], '\n') + 1
			l := s[start:end]
			end = start - 1
			if l == "" {
				continue
			}
			if len(lines)-first >= maxLogLines {
				cut = true
				break
			}
			t, text, err := docker.ParseLogLine(l)
			if err != nil {
				text = l // a line without a timestamp (a partial line): keep it, untimed
			}
			lines = append(lines, LogLine{Time: t, Stream: src.name, Text: text})
		}
		slices.Reverse(lines[first:])
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time.Before(lines[j].Time) })
	out := LogFetch{Truncated: cut}
	size := 0
	first := len(lines)
	for first > 0 && size+len(lines[first-1].Text) <= maxBytes {
		first--
		size += len(lines[first].Text)
	}
	out.Truncated = out.Truncated || first > 0
	out.Lines = lines[first:]
	if out.Lines == nil {
		out.Lines = []LogLine{}
	}
	return out
}
