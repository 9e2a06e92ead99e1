package service

import (
	"context"
	"net/http"
	"strings"

	"github.com/infrastructor/infrastructor/internal/store"
)

const (
	LocalToken    = "token"
	LocalTarget   = "audit_target"
	LocalWorkflow = "audit_workflow"
	LocalDetail   = "audit_detail"
	LocalAction   = "audit_action"
)

// BearerToken extracts the secret of an "Authorization: Bearer" header, or "".
func BearerToken(header string) string {
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(secret)
}

// Authenticate resolves a bearer secret to a live token. It is shared by REST, WebSocket and MCP.
func (s *Service) Authenticate(ctx context.Context, secret string) (*store.Token, error) {
	if secret == "" {
		return nil, Errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	tok, err := store.TokenBySecret(ctx, s.Pool, secret, s.Now())
	if err == store.ErrNotFound {
		return nil, Errorf(http.StatusUnauthorized, "unauthorized", "invalid, expired or revoked token")
	}
	if err != nil {
		return nil, err
	}
	return tok, nil
}
