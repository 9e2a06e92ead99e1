package api

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

// A token is checked once, when a connection authenticates. Connections that outlive the check (WebSocket
// connections, MCP responses streamed while an operation runs) are ended when their token stops working: at once
// when it is revoked (every API process hears of it through store.TopicTokenRevoked), and within
// INFRA_TOKEN_RECHECK_INTERVAL when it expires or a revocation notice was missed (#15).

// tokenStreams holds the cancel functions of the streams in flight per token.
type tokenStreams struct {
	mu      sync.Mutex
	byToken map[uuid.UUID]map[*context.CancelCauseFunc]struct{}
}

// add registers cancel for token id; the returned function removes it again.
func (t *tokenStreams) add(id uuid.UUID, cancel context.CancelCauseFunc) (remove func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byToken == nil {
		t.byToken = map[uuid.UUID]map[*context.CancelCauseFunc]struct{}{}
	}
	if t.byToken[id] == nil {
		t.byToken[id] = map[*context.CancelCauseFunc]struct{}{}
	}
	key := &cancel
	t.byToken[id][key] = struct{}{}
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.byToken[id], key)
		if len(t.byToken[id]) == 0 {
			delete(t.byToken, id)
		}
	}
}

// end cancels every stream of token id with cause and returns how many there were.
func (t *tokenStreams) end(id uuid.UUID, cause error) int {
	t.mu.Lock()
	streams := t.byToken[id]
	delete(t.byToken, id)
	t.mu.Unlock()
	for cancel := range streams {
		(*cancel)(cause)
	}
	return len(streams)
}

func (t *tokenStreams) ids() []uuid.UUID {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]uuid.UUID, 0, len(t.byToken))
	for id := range t.byToken {
		out = append(out, id)
	}
	return out
}

// tokenGone maps a store reason (store.TokenRevoked, store.TokenExpired) to the error connections are closed with.
func tokenGone(reason string) error {
	if reason == store.TokenExpired {
		return hub.ErrTokenExpired
	}
	return hub.ErrTokenRevoked
}

// endToken closes every WebSocket connection and MCP stream of token id in this process.
func (s *Server) endToken(id uuid.UUID, reason error) {
	ws := 0
	if s.hub != nil {
		ws = s.hub.DropKey(id.String(), reason)
	}
	if streams := s.streams.end(id, reason); ws+streams > 0 {
		s.log.Info("closed the connections of a token that stopped working", "token_id", id, "reason", reason.Error(),
			"websockets", ws, "mcp_streams", streams)
	}
}

// watchTokens checks the tokens of open connections every INFRA_TOKEN_RECHECK_INTERVAL until ctx ends, and ends
// the connections of those that expired or were revoked.
func (s *Server) watchTokens(ctx context.Context) {
	t := time.NewTicker(s.cfg.TokenRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.recheckTokens(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("checking the tokens of open connections failed; retrying at the next interval", "err", err)
		}
	}
}

func (s *Server) recheckTokens(ctx context.Context) error {
	ids := s.streams.ids()
	if s.hub != nil {
		for _, k := range s.hub.Keys() {
			if id, err := uuid.Parse(k); err == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.TokenRecheck, 5*time.Second))
	defer cancel()
	gone, err := store.TokensGone(ctx, s.pool, ids, s.now())
	if err != nil {
		return err
	}
	for id, reason := range gone {
		s.endToken(id, tokenGone(reason))
	}
	return nil
}

// startTokenWatch runs watchTokens until Shutdown, and ends MCP streams on revocations other processes announce.
func (s *Server) startTokenWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	go s.watchTokens(ctx)
	if s.hub != nil {
		// The hub drops its own WebSocket clients; the streams are this server's.
		s.hub.OnRevoke(func(key string) {
			if id, err := uuid.Parse(key); err == nil {
				s.streams.end(id, hub.ErrTokenRevoked)
			}
		})
	}
}
