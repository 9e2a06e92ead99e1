package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Streamer runs a long-lived command on a device and copies its output as it arrives (the SSH pool in
// production). Live log tails need it; a Runner without it cannot tail.
type Streamer interface {
	Stream(ctx context.Context, t sshpool.Target, cmd string, stdout, stderr io.Writer) (*sshpool.Result, error)
}

// Bounds of a live tail (#12).
const (
	// TailCheckEvery is how often a tail checks that someone still watches it, and heartbeats.
	TailCheckEvery = 2 * time.Second
	// TailHeartbeatTimeout is the heartbeat timeout of the tail activity: a worker that died is noticed this long
	// after, and the retry resumes from the last heartbeat.
	TailHeartbeatTimeout = 20 * time.Second
	// tailBatchBytes bounds the encoded lines of one published batch, well inside PostgreSQL's 8000-byte NOTIFY
	// payload with the envelope around them.
	tailBatchBytes = 5000
	// tailBatchWait is how long a line may wait for others to share its batch.
	tailBatchWait = 100 * time.Millisecond
	// tailMaxText clips one line's text; the line is marked cut.
	tailMaxText = 2000
	// tailMaxLineBytes bounds one line read from the device; the rest of a longer line is dropped.
	tailMaxLineBytes = 256 << 10
	// TailMaxLinesPerSecond bounds what one tail publishes; lines beyond it are dropped and counted in a marker.
	TailMaxLinesPerSecond = 200
)

// Tail markers, the "event" of a published message that carries no lines.
const (
	TailEventStarted = "started"
	// TailEventGap: the tail lost its session (a dropped link, a worker restart) and resumed from its last
	// published line; lines printed meanwhile follow late, none repeated. From/To bound the interruption.
	TailEventGap = "gap"
	// TailEventDropped: more lines than TailMaxLinesPerSecond; Dropped counts those left out.
	TailEventDropped = "dropped"
	// TailEventError: the tail cannot go on (unknown container, device gone, host key); Message says why.
	TailEventError = "error"
)

// LogTailInput describes one live tail: the source (the device's journald with filters, or one container) and
// where its lines go.
type LogTailInput struct {
	// SourceID is the tail's workflow ID, the key of its watchers in log_tail_watchers.
	SourceID string
	DeviceID string
	// Topic is the live-update topic the lines are published on.
	Topic string
	// Container is the container's name or ID; empty tails journald.
	Container string
	// Query holds journald's unit, priority and grep filters.
	Query journal.Query
	// IdleAfter is how old a watcher's last refresh may be before it no longer counts.
	IdleAfter time.Duration
}

// TailResume is a tail's resume point, recorded in the activity's heartbeat details after every published batch,
// so a retry continues after the last published line: journald's cursor, or per stream of a container the time of
// the last published line and how many published lines carry exactly that time.
type TailResume struct {
	Cursor    string     `json:"cursor,omitempty"`
	Stdout    StreamMark `json:"stdout"`
	Stderr    StreamMark `json:"stderr"`
	StartedAt time.Time  `json:"started_at"`
	// LastAt is when the last batch was published (the start of a gap).
	LastAt time.Time `json:"last_at"`
}

// StreamMark is the resume point of one stream of a container's output.
type StreamMark struct {
	Time   time.Time `json:"time,omitzero"`
	AtTime int       `json:"at_time,omitempty"`
}

// TailLine is one published line.
type TailLine struct {
	Time       time.Time `json:"time,omitzero"`
	Stream     string    `json:"stream,omitempty"` // stdout or stderr (containers)
	Priority   string    `json:"priority,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	Identifier string    `json:"identifier,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Text       string    `json:"text"`
	Cut        bool      `json:"cut,omitempty"`
}

// TailMessage is the data of a published tail update: lines, or a marker event.
type TailMessage struct {
	Lines   []TailLine `json:"lines,omitempty"`
	Event   string     `json:"event,omitempty"`
	From    *time.Time `json:"from,omitempty"`
	To      *time.Time `json:"to,omitempty"`
	Dropped int        `json:"dropped,omitempty"`
	Message string     `json:"message,omitempty"`
}

// TailLogs follows a source over one SSH session and publishes its lines on in.Topic until nobody watches it
// (no fresh row in log_tail_watchers) or the activity is cancelled. It returns a retryable error when the session
// is lost; the retry resumes from the heartbeat details without repeating a line and publishes a gap marker.
func (a *Activities) TailLogs(ctx context.Context, in LogTailInput) error {
	devID, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	streamer, ok := a.SSH.(Streamer)
	if !ok {
		return temporal.NewNonRetryableApplicationError("this worker cannot stream commands", ErrTypeInvalidInput, nil)
	}
	f, err := in.Query.Normalize()
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	if in.Container != "" {
		if err := docker.ValidRef(in.Container); err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
	}
	t := &tail{a: a, in: in, filter: f, streamer: streamer}
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &t.committed) == nil {
		t.resumed = true
	}
	if !t.committed.StartedAt.IsZero() && !journal.ValidCursor(t.committed.Cursor) {
		t.committed.Cursor = ""
	}
	watched, err := t.watched(ctx)
	if err != nil {
		return err
	}
	if !watched {
		return nil
	}
	dev, err := store.GetDevice(ctx, a.DB, devID)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return err
	}
	t.dev = dev
	if t.target, err = TargetOf(dev); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	now := a.now().UTC()
	if t.resumed {
		from := t.committed.LastAt
		if from.IsZero() {
			from = t.committed.StartedAt
		}
		if err := t.publish(ctx, TailMessage{Event: TailEventGap, From: &from, To: &now,
			Message: "the tail lost its session and resumed; lines printed meanwhile follow"}); err != nil {
			return err
		}
	} else {
		t.committed.StartedAt = now
		if err := t.publish(ctx, TailMessage{Event: TailEventStarted}); err != nil {
			return err
		}
	}
	t.cur = t.committed
	activity.RecordHeartbeat(ctx, t.committed)
	return t.run(ctx)
}

// tail is the state of one TailLogs attempt.
type tail struct {
	a        *Activities
	in       LogTailInput
	filter   journal.Filter
	streamer Streamer
	dev      *store.Device
	target   sshpool.Target
	resumed  bool

	// committed is the resume point after the last published batch; cur includes the lines waiting in pending.
	committed, cur TailResume
	pending        []TailLine
	pendingBytes   int

	// skip drops the lines a container follower repeats after a resume: those before the mark, and AtTime lines
	// at it.
	skip       map[string]StreamMark
	rateSecond time.Time
	rateCount  int
	dropped    int
}

// line is one line read from a stream.
type line struct {
	stream string
	text   string
}

func (t *tail) run(ctx context.Context) error {
	check := time.NewTicker(TailCheckEvery)
	defer check.Stop()
	for {
		lines := make(chan line, 256)
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		cmd, err := t.command()
		if err != nil {
			cancel()
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
		stdout, stderr := newLineWriter("stdout", lines, sctx), newLineWriter("stderr", lines, sctx)
		var stderrText *lineWriter
		if t.in.Container == "" {
			// journalctl's own complaints are not log lines; keep them for the error message only.
			stderr = newLineWriter("", nil, sctx)
			stderrText = stderr
		}
		go func() {
			_, err := t.streamer.Stream(sctx, t.target, cmd, stdout, stderr)
			stdout.flush()
			stderr.flush()
			done <- err
		}()
		t.skip = map[string]StreamMark{"stdout": t.cur.Stdout, "stderr": t.cur.Stderr}
		batch := time.NewTimer(time.Hour)
		batch.Stop()
		var streamErr error
		ended := false
		for !ended {
			select {
			case l := <-lines:
				if err := t.add(ctx, l); err != nil {
					cancel()
					<-done
					return err
				}
				if len(t.pending) == 1 {
					batch.Reset(tailBatchWait)
				}
			case <-batch.C:
				if err := t.flush(ctx); err != nil {
					cancel()
					<-done
					return err
				}
			case <-check.C:
				watched, err := t.watched(ctx)
				if err == nil && !watched {
					cancel()
					<-done
					_ = t.flush(context.WithoutCancel(ctx))
					return nil
				}
				activity.RecordHeartbeat(ctx, t.committed)
			case <-ctx.Done():
				cancel()
				<-done
				return ctx.Err()
			case streamErr = <-done:
				ended = true
			}
		}
		cancel()
		// Lines still queued were read before the session ended.
		for drained := false; !drained; {
			select {
			case l := <-lines:
				if err := t.add(ctx, l); err != nil {
					return err
				}
			default:
				drained = true
			}
		}
		if err := t.flush(ctx); err != nil {
			return err
		}
		activity.RecordHeartbeat(ctx, t.committed)
		if streamErr == nil || sshpool.KindOf(streamErr) == sshpool.CommandFailed && isSessionBound(streamErr) {
			// The follower ended by itself: its session bound ran out, or a container stopped (docker logs -f
			// returns then). Follow again from the resume point after a pause, so a stopped container costs
			// one command per check, not a busy loop.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-check.C:
			}
			if watched, err := t.watched(ctx); err == nil && !watched {
				return nil
			}
			continue
		}
		if sshpool.KindOf(streamErr) == sshpool.CommandFailed {
			msg := ""
			if stderrText != nil {
				msg = stderrText.last
			} else {
				msg = stderr.last
			}
			msg = quoteOutput([]byte(msg))
			if strings.Contains(msg, "No such container") {
				_ = t.publish(ctx, TailMessage{Event: TailEventError, Message: "container " + t.in.Container + " not found on " + t.dev.Name})
				return temporal.NewNonRetryableApplicationError("container "+t.in.Container+" not found on "+t.dev.Name, ErrTypeContainerNotFound, nil)
			}
			_ = t.publish(ctx, TailMessage{Event: TailEventError, Message: "the tail command failed: " + msg})
			return temporal.NewNonRetryableApplicationError("tail failed: "+msg, ErrTypeCommandFailed, nil)
		}
		err = t.a.sshFailure(ctx, t.dev, streamErr)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			_ = t.publish(ctx, TailMessage{Event: TailEventError, Message: app.Message()})
		}
		return err
	}
}

// isSessionBound reports the exit status of timeout(1) ending a follower at journal.TailSessionSeconds.
func isSessionBound(err error) bool {
	var e *sshpool.Error
	return errors.As(err, &e) && e.ExitCode == 124
}

// command builds the follower for the current resume point.
func (t *tail) command() (string, error) {
	if t.in.Container == "" {
		if t.a.journalTailCommand != nil {
			return t.a.journalTailCommand(t.filter, t.cur.Cursor), nil
		}
		return journal.TailCommand(t.filter, t.cur.Cursor), nil
	}
	argv := []string{"logs", "--follow", "--timestamps"}
	since := time.Time{}
	for _, m := range []StreamMark{t.cur.Stdout, t.cur.Stderr} {
		if !m.Time.IsZero() && (since.IsZero() || m.Time.Before(since)) {
			since = m.Time
		}
	}
	switch {
	case !since.IsZero():
		argv = append(argv, "--since", since.UTC().Format(time.RFC3339Nano))
	case t.resumed:
		// nothing was published yet: everything since the tail started
		argv = append(argv, "--since", t.cur.StartedAt.UTC().Format(time.RFC3339Nano))
	default:
		argv = append(argv, "--tail", fmt.Sprint(journal.TailContext))
	}
	cmd := docker.Join(append(append([]string{"docker"}, argv...), "--", t.in.Container)...)
	host := ""
	if t.dev.DockerHost != nil {
		host = *t.dev.DockerHost
	}
	full, err := docker.WithDockerHost(cmd, host)
	if err != nil {
		return "", err
	}
	return journal.FollowCommand(full), nil
}

// add turns a read line into a published line (or drops it: a repeat after a resume, a grep miss, over the rate).
func (t *tail) add(ctx context.Context, l line) error {
	var tl TailLine
	if t.in.Container == "" {
		e, err := journal.ParseJSONLine([]byte(l.text))
		if err != nil {
			return nil
		}
		if e.Cursor != "" {
			t.cur.Cursor = e.Cursor
		}
		if t.filter.Grep != "" && !strings.Contains(strings.ToLower(e.Message), strings.ToLower(t.filter.Grep)) {
			return nil
		}
		tl = TailLine{Time: e.Time, Priority: e.Priority, Unit: e.Unit, Identifier: e.Identifier, PID: e.PID, Text: e.Message, Cut: e.Cut}
	} else {
		ts, text, err := docker.ParseLogLine(l.text)
		if err != nil {
			if l.stream == "stderr" {
				// With --timestamps every line of the container has a time: an untimed line on stderr is the
				// docker client's own message ("No such container"), kept for the error, not a log line.
				return nil
			}
			text = l.text
		}
		mark := &t.cur.Stdout
		if l.stream == "stderr" {
			mark = &t.cur.Stderr
		}
		if !ts.IsZero() {
			sk := t.skip[l.stream]
			switch {
			case ts.Before(sk.Time):
				return nil
			case ts.Equal(sk.Time) && sk.AtTime > 0:
				sk.AtTime--
				t.skip[l.stream] = sk
				return nil
			}
			if ts.Equal(mark.Time) {
				mark.AtTime++
			} else {
				*mark = StreamMark{Time: ts, AtTime: 1}
			}
		}
		tl = TailLine{Time: ts, Stream: l.stream}
		tl.Text, tl.Cut = safetext.String(text, tailMaxText, false)
	}
	if len(tl.Text) > tailMaxText {
		tl.Text, _ = safetext.String(tl.Text, tailMaxText, true)
		tl.Cut = true
	}
	now := t.a.now()
	if now.Sub(t.rateSecond) >= time.Second {
		if t.dropped > 0 {
			if err := t.flush(ctx); err != nil {
				return err
			}
			if err := t.publish(ctx, TailMessage{Event: TailEventDropped, Dropped: t.dropped,
				Message: fmt.Sprintf("more than %d lines a second: %d left out", TailMaxLinesPerSecond, t.dropped)}); err != nil {
				return err
			}
		}
		t.rateSecond, t.rateCount, t.dropped = now, 0, 0
	}
	if t.rateCount >= TailMaxLinesPerSecond {
		t.dropped++
		return nil
	}
	t.rateCount++
	enc, _ := json.Marshal(tl)
	for len(enc) > tailBatchBytes-100 && len(tl.Text) > 0 {
		// JSON escapes can make a clipped line several times its length
		tl.Text, tl.Cut = safetext.String(tl.Text, len(tl.Text)/2, false)
		tl.Cut = true
		enc, _ = json.Marshal(tl)
	}
	if t.pendingBytes+len(enc) > tailBatchBytes {
		if err := t.flush(ctx); err != nil {
			return err
		}
	}
	t.pending = append(t.pending, tl)
	t.pendingBytes += len(enc) + 1
	return nil
}

// flush publishes the pending lines and commits the resume point that includes them.
func (t *tail) flush(ctx context.Context) error {
	if len(t.pending) == 0 {
		t.committed.Cursor = t.cur.Cursor // entries the grep left out need not be read again
		return nil
	}
	if err := t.publish(ctx, TailMessage{Lines: t.pending}); err != nil {
		return err
	}
	t.pending, t.pendingBytes = nil, 0
	t.cur.LastAt = t.a.now().UTC()
	t.committed = t.cur
	activity.RecordHeartbeat(ctx, t.committed)
	return nil
}

func (t *tail) publish(ctx context.Context, m TailMessage) error {
	if err := store.Publish(ctx, t.a.DB, t.in.Topic, m); err != nil {
		return fmt.Errorf("publish tail of %s: %w", t.in.SourceID, err)
	}
	return nil
}

// watched reports whether a watcher refreshed its row within IdleAfter.
func (t *tail) watched(ctx context.Context) (bool, error) {
	var ok bool
	err := t.a.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM log_tail_watchers WHERE source = $1
		AND seen_at > now() - make_interval(secs => $2))`, t.in.SourceID, t.in.IdleAfter.Seconds()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("tail watchers of %s: %w", t.in.SourceID, err)
	}
	return ok, nil
}

// lineWriter splits a stream into lines and hands them to a channel; lines longer than tailMaxLineBytes are cut.
// With a nil channel it only remembers the last line (a follower's stderr, for error messages).
type lineWriter struct {
	stream string
	out    chan<- line
	ctx    context.Context
	mu     sync.Mutex
	buf    []byte
	long   bool
	last   string
}

func newLineWriter(stream string, out chan<- line, ctx context.Context) *lineWriter {
	return &lineWriter{stream: stream, out: out, ctx: ctx}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.append(p)
			break
		}
		w.append(p[:i])
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) append(p []byte) {
	if room := tailMaxLineBytes - len(w.buf); len(p) > room {
		p = p[:max(room, 0)]
		w.long = true
	}
	w.buf = append(w.buf, p...)
}

func (w *lineWriter) emit() {
	s := strings.TrimRight(string(w.buf), "\r")
	w.buf, w.long = w.buf[:0], false
	if s == "" {
		return
	}
	w.last = s
	if w.out == nil {
		return
	}
	select {
	case w.out <- line{stream: w.stream, text: s}:
	case <-w.ctx.Done():
	}
}

// flush hands over a last line without a newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit()
	}
}
