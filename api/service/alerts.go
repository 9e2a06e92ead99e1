package service

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/store"
)

// RecentAlerts is how far back GET /alerts lists resolved alerts by default.
const RecentAlerts = 24 * time.Hour

// Acknowledge records that tok's holder acknowledged alert id, for REST and MCP alike.
func (s *Service) Acknowledge(ctx context.Context, id uuid.UUID, tok *store.Token) (*store.Alert, error) {
	by := "unknown"
	if tok != nil {
		by = tok.Name
	}
	return store.AcknowledgeAlert(ctx, s.Pool, id, by, s.Now())
}

// SilenceSpec is a silence request, from REST or MCP: until a time, for a duration, or lifted.
type SilenceSpec struct {
	Until    *time.Time
	Duration string
	Lift     bool
}

// maxSilence bounds a silence, so a forgotten one does not hide an alert for good.
const maxSilence = 90 * 24 * time.Hour

// SilenceEnd checks a silence request and returns when the silence ends (nil lifts it), or the field at fault and
// why. liftHint words how the interface lifts a silence, for the message when nothing was given.
func (s *Service) SilenceEnd(sp SilenceSpec, liftHint string) (until *time.Time, field, msg string) {
	switch {
	case sp.Until != nil && sp.Duration != "":
		return nil, "duration", "give until or duration, not both"
	case sp.Lift && (sp.Until != nil || sp.Duration != ""):
		return nil, "until", "lifting the silence takes neither until nor duration"
	case sp.Until != nil:
		if !sp.Until.After(s.Now()) {
			return nil, "until", "must be in the future"
		}
		if sp.Until.Sub(s.Now()) > maxSilence {
			return nil, "until", "must be at most 90 days ahead"
		}
		return sp.Until, "", ""
	case sp.Duration != "":
		v, err := time.ParseDuration(sp.Duration)
		if err != nil || v <= 0 || v > maxSilence {
			return nil, "duration", "must be a duration between 1s and 2160h"
		}
		u := s.Now().Add(v)
		return &u, "", ""
	case sp.Lift:
		return nil, "", ""
	}
	return nil, "until", "give " + liftHint + " or duration"
}
