package ws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// LogTailer starts live log tails (workflows.Client in production). It is separate from Workflows so a
// wf without it refuses log topics instead of failing to build.
type LogTailer interface {
	EnsureLogTail(ctx context.Context, in activities.LogTailInput) error
}

// errTooManyTails and errTailUnavailable are the refusals of a log subscription.
var (
	errTooManyTails    = errors.New("too many live log tails")
	errTailUnavailable = errors.New("live log tails need the workflow service")
	errTailNoDevice    = errors.New("no such device")
)

// TailRegistry is one API process's watchers of live log tails.
type TailRegistry struct {
	mu      sync.Mutex
	replica uuid.UUID
	sources map[string]*tailSource
	cancel  context.CancelFunc
	done    chan struct{}
}

// tailSource is one tail watched from this process.
type tailSource struct {
	in      activities.LogTailInput
	device  uuid.UUID
	clients map[*hub.Client]uuid.UUID // client -> token id
}

// tailOf returns the tail input of a log pattern; ok is false for other patterns.
func (s *Server) tailOf(p hub.Pattern) (activities.LogTailInput, uuid.UUID, bool) {
	src, ok := p.LogSource()
	if !ok {
		return activities.LogTailInput{}, uuid.Nil, false
	}
	dev, _ := uuid.Parse(src.DeviceID)
	topic := p.String()
	return activities.LogTailInput{SourceID: workflows.LogTailWorkflowID(src.DeviceID, topic), DeviceID: src.DeviceID,
		Topic: topic, Container: src.Container, Query: src.Query, IdleAfter: s.Config.LogTailIdle}, dev, true
}

// pendingTail is a watch reserved for a client whose tail is still to be ensured.
type pendingTail struct {
	pattern hub.Pattern
	in      activities.LogTailInput
}

// reserveTails makes client a watcher of the tails of the log patterns among ps, within the limits per token and
// per device, without starting them yet: the client subscribes and hears its confirmation first, then startTails
// starts them, so nothing a tail publishes as it starts (its "started" marker) comes before the confirmation or is
// missed. On an error no watch of this call is kept.
func (s *Server) reserveTails(client *hub.Client, tok *store.Token, ps []hub.Pattern) ([]pendingTail, error) {
	var pending []pendingTail
	for _, p := range ps {
		in, dev, ok := s.tailOf(p)
		if !ok {
			continue
		}
		fresh, err := s.reserveTail(client, tok, in, dev)
		if err != nil {
			for _, pt := range pending {
				s.dropWatch(client, pt.in.SourceID)
			}
			return nil, err
		}
		if fresh {
			pending = append(pending, pendingTail{pattern: p, in: in})
		}
	}
	return pending, nil
}

// startTails starts (or joins) the reserved tails and audits each watch as a read of sensitive data. A tail that
// cannot be started loses its watch; failed lists their patterns, err says why.
func (s *Server) startTails(client *hub.Client, tok *store.Token, addr string, pending []pendingTail) (failed []hub.Pattern, err error) {
	tailer, ok := s.Workflows.(LogTailer)
	for _, pt := range pending {
		var startErr error = errTailUnavailable
		if ok {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			startErr = tailer.EnsureLogTail(ctx, pt.in)
			cancel()
		}
		if startErr != nil {
			s.dropWatch(client, pt.in.SourceID)
			failed, err = append(failed, pt.pattern), startErr
			continue
		}
		in := pt.in
		action, target := service.AuditReadSystemLogs, "device/"+in.DeviceID+"/logs"
		if in.Container != "" {
			action, target = service.AuditReadContainerLogs, "device/"+in.DeviceID+"/containers/"+in.Container
		}
		s.AuditRead(tok, addr, action, target, map[string]any{"interface": "websocket", "topic": in.Topic, "tail": in.SourceID})
	}
	if len(pending) > len(failed) {
		s.startTailKeepAlive()
	}
	return failed, err
}

// reserveTail adds one watcher; fresh is false when client already watched the tail.
func (s *Server) reserveTail(client *hub.Client, tok *store.Token, in activities.LogTailInput, dev uuid.UUID) (fresh bool, err error) {
	if _, ok := s.Workflows.(LogTailer); !ok {
		return false, errTailUnavailable
	}
	r := &s.tails
	r.mu.Lock()
	if r.sources == nil {
		r.sources = map[string]*tailSource{}
		r.replica = uuid.New()
	}
	src := r.sources[in.SourceID]
	if src != nil {
		if _, dup := src.clients[client]; dup {
			r.mu.Unlock()
			return false, nil
		}
	}
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := store.GetDevice(ctx, s.Pool, dev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("%w: %s", errTailNoDevice, dev)
		}
		return false, err
	}
	idle := s.Config.LogTailIdle.Seconds()
	var perToken, perDevice int
	var running bool
	if err := s.Pool.QueryRow(ctx, `SELECT
			count(DISTINCT source) FILTER (WHERE token_id = $1 AND source <> $3),
			count(DISTINCT source) FILTER (WHERE device_id = $2 AND source <> $3),
			coalesce(bool_or(source = $3), false)
		FROM log_tail_watchers WHERE seen_at > now() - make_interval(secs => $4)`,
		tok.ID, dev, in.SourceID, idle).Scan(&perToken, &perDevice, &running); err != nil {
		return false, err
	}
	if perToken >= s.Config.LogTailsPerToken {
		return false, fmt.Errorf("%w: this token watches %d already (INFRA_LOG_TAILS_PER_TOKEN)", errTooManyTails, perToken)
	}
	if !running && perDevice >= s.Config.LogTailsPerDevice {
		return false, fmt.Errorf("%w: device %s runs %d already (INFRA_LOG_TAILS_PER_DEVICE)", errTooManyTails, dev, perDevice)
	}

	r.mu.Lock()
	src = r.sources[in.SourceID]
	if src == nil {
		src = &tailSource{in: in, device: dev, clients: map[*hub.Client]uuid.UUID{}}
		r.sources[in.SourceID] = src
	}
	src.clients[client] = tok.ID
	n := src.count(tok.ID)
	replica := r.replica
	r.mu.Unlock()
	if _, err := s.Pool.Exec(ctx, `INSERT INTO log_tail_watchers (source, replica, token_id, device_id, clients)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, replica, token_id) DO UPDATE SET clients = $5, seen_at = now()`,
		in.SourceID, replica, tok.ID, dev, n); err != nil {
		s.dropWatch(client, in.SourceID)
		return false, err
	}
	return true, nil
}

func (t *tailSource) count(tok uuid.UUID) int {
	n := 0
	for _, id := range t.clients {
		if id == tok {
			n++
		}
	}
	return n
}

// unwatchTails removes client from the tails of the log patterns among ps.
func (s *Server) unwatchTails(client *hub.Client, ps []hub.Pattern) {
	for _, p := range ps {
		if in, _, ok := s.tailOf(p); ok {
			s.dropWatch(client, in.SourceID)
		}
	}
}

// unwatchAllTails removes client from every tail it watches (its connection ended).
func (s *Server) unwatchAllTails(client *hub.Client) {
	r := &s.tails
	r.mu.Lock()
	var ids []string
	for id, src := range r.sources {
		if _, ok := src.clients[client]; ok {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	for _, id := range ids {
		s.dropWatch(client, id)
	}
}

// dropWatch removes one watcher and updates or deletes this process's row of its token, so a tail nobody
// watches any more ends at its next check.
func (s *Server) dropWatch(client *hub.Client, sourceID string) {
	r := &s.tails
	r.mu.Lock()
	src := r.sources[sourceID]
	if src == nil {
		r.mu.Unlock()
		return
	}
	tok, ok := src.clients[client]
	if !ok {
		r.mu.Unlock()
		return
	}
	delete(src.clients, client)
	n := src.count(tok)
	if len(src.clients) == 0 {
		delete(r.sources, sourceID)
	}
	replica := r.replica
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if n == 0 {
		_, err = s.Pool.Exec(ctx, `DELETE FROM log_tail_watchers WHERE source = $1 AND replica = $2 AND token_id = $3`,
			sourceID, replica, tok)
	} else {
		_, err = s.Pool.Exec(ctx, `UPDATE log_tail_watchers SET clients = $4 WHERE source = $1 AND replica = $2 AND token_id = $3`,
			sourceID, replica, tok, n)
	}
	if err != nil {
		s.Log.Warn("live log tail: cannot record a watcher leaving; the tail ends after INFRA_LOG_TAIL_IDLE", "tail", sourceID, "err", err)
	}
}

// startTailKeepAlive runs the refresh loop of this process's watchers, once.
func (s *Server) startTailKeepAlive() {
	r := &s.tails
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		every := min(max(s.Config.LogTailIdle/3, time.Second), 10*time.Second)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.refreshTails(ctx)
			}
		}
	}()
}

// refreshTails marks this process's watchers fresh, starts again a tail that ended while watched (it saw no
// watcher just before one arrived, or failed), and deletes the stale rows of replicas that died.
func (s *Server) refreshTails(ctx context.Context) {
	r := &s.tails
	r.mu.Lock()
	ins := make([]activities.LogTailInput, 0, len(r.sources))
	for _, src := range r.sources {
		ins = append(ins, src.in)
	}
	replica := r.replica
	r.mu.Unlock()
	if len(ins) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.Pool.Exec(cctx, `UPDATE log_tail_watchers SET seen_at = now() WHERE replica = $1`, replica); err != nil {
		s.Log.Warn("live log tails: cannot refresh watchers", "err", err)
	}
	_, _ = s.Pool.Exec(cctx, `DELETE FROM log_tail_watchers WHERE seen_at < now() - make_interval(secs => $1)`,
		2*s.Config.LogTailIdle.Seconds())
	if tailer, ok := s.Workflows.(LogTailer); ok {
		for _, in := range ins {
			if err := tailer.EnsureLogTail(cctx, in); err != nil {
				s.Log.Warn("live log tail: cannot start", "tail", in.SourceID, "err", err)
			}
		}
	}
}

// Close ends the refresh loop and deletes this process's watchers, so their tails end at once (shutdown).
func (s *Server) Close() {
	r := &s.tails
	r.mu.Lock()
	cancel, done, replica := r.cancel, r.done, r.replica
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	_, _ = s.Pool.Exec(ctx, `DELETE FROM log_tail_watchers WHERE replica = $1`, replica)
}

// Error codes of refused log subscriptions.
const (
	wsTooManyTails    = "too_many_tails"
	wsTailUnavailable = "unavailable"
	wsTailFailed      = "tail_failed"
)

// wsTailError is the error message of a refused log subscription; internal errors are logged, not shown.
func (s *Server) wsTailError(err error) wsError {
	switch {
	case errors.Is(err, errTooManyTails):
		return wsError{wsTooManyTails, err.Error()}
	case errors.Is(err, errTailUnavailable):
		return wsError{wsTailUnavailable, err.Error()}
	case errors.Is(err, errTailNoDevice):
		return wsError{wsInvalidTopic, err.Error()}
	}
	s.Log.Error("live log tail: cannot start", "err", err)
	return wsError{wsTailFailed, "cannot start the live log tail; see the server log"}
}
