package service

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

// tokenStreams holds the cancel functions of the streams in flight per token.
type tokenStreams struct {
	mu      sync.Mutex
	byToken map[uuid.UUID]map[*context.CancelCauseFunc]struct{}
}

// Add registers cancel for token id; the returned function removes it again.
func (t *tokenStreams) Add(id uuid.UUID, cancel context.CancelCauseFunc) (remove func()) {
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

// IDs lists the tokens that hold open streams.
func (t *tokenStreams) IDs() []uuid.UUID {
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

// EndToken closes every WebSocket connection and MCP stream of token id in this process.
func (s *Service) EndToken(id uuid.UUID, reason error) {
	ws := 0
	if s.Hub != nil {
		ws = s.Hub.DropKey(id.String(), reason)
	}
	if streams := s.Streams.end(id, reason); ws+streams > 0 {
		s.Log.Info("closed the connections of a token that stopped working", "token_id", id, "reason", reason.Error(),
			"websockets", ws, "mcp_streams", streams)
	}
}

// watchTokens checks the tokens of open connections every INFRA_TOKEN_RECHECK_INTERVAL until ctx ends, and ends
// the connections of those that expired or were revoked.
func (s *Service) watchTokens(ctx context.Context) {
	t := time.NewTicker(s.Config.TokenRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.RecheckTokens(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("checking the tokens of open connections failed; retrying at the next interval", "err", err)
		}
	}
}

// RecheckTokens ends the streams of every token that stopped working (revoked, expired or deleted) since it
// authenticated; the token watch runs it periodically.
func (s *Service) RecheckTokens(ctx context.Context) error {
	ids := s.Streams.IDs()
	if s.Hub != nil {
		for _, k := range s.Hub.Keys() {
			if id, err := uuid.Parse(k); err == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(s.Config.TokenRecheck, 5*time.Second))
	defer cancel()
	gone, err := store.TokensGone(ctx, s.Pool, ids, s.Now())
	if err != nil {
		return err
	}
	for id, reason := range gone {
		s.EndToken(id, tokenGone(reason))
	}
	return nil
}

// startTokenWatch runs watchTokens until Shutdown, and ends MCP streams on revocations other processes announce.
func (s *Service) startTokenWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	go s.watchTokens(ctx)
	if s.Hub != nil {
		// The hub drops its own WebSocket clients; the streams are this server's.
		s.Hub.OnRevoke(func(key string) {
			if id, err := uuid.Parse(key); err == nil {
				s.Streams.end(id, hub.ErrTokenRevoked)
			}
		})
	}
}
