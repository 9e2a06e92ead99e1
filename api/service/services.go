package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/store"
)

// AuditReadProcesses records every on-request process listing: command lines can say more than they should.
const AuditReadProcesses = "read.processes"

// processesTimeout bounds how long a process listing waits for the device.
const processesTimeout = 45 * time.Second

// ProcessFetcher runs the TopProcesses workflow (workflows.Client implements it).
type ProcessFetcher interface {
	FetchTopProcesses(ctx context.Context, in activities.TopProcessesInput) (*activities.TopProcessesResult, error)
}

// ServicesView is the answer of GET .../services, shared with MCP.
type ServicesView struct {
	DeviceID uuid.UUID `json:"device_id"`
	// Systemd is null before the first services collection; available=false on a device without systemd.
	Systemd      *store.SystemdState `json:"systemd"`
	WatchedUnits []string            `json:"watched_units"`
	Items        []*store.Service    `json:"items"`
}

// ServicesOf reads a device's collected systemd units (#12): failed and watched ones, with the watch list in effect.
func (s *Service) ServicesOf(ctx context.Context, d *store.Device) (*ServicesView, error) {
	list, sd, err := store.ListServices(ctx, s.Pool, d.ID)
	if err != nil {
		return nil, err
	}
	watched, err := store.WatchedUnits(ctx, s.Pool, d.ID)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []*store.Service{}
	}
	return &ServicesView{DeviceID: d.ID, Systemd: sd, WatchedUnits: watched, Items: list}, nil
}

// FetchProcesses lists the device's top processes through a TopProcesses workflow (the API never talks SSH) and
// takes the listing it stored.
func (s *Service) FetchProcesses(ctx context.Context, d *store.Device, srt process.Sort, limit int) (*activities.ProcessListing, error) {
	pf, ok := s.Workflows.(ProcessFetcher)
	if !ok {
		return nil, Errorf(http.StatusServiceUnavailable, "unavailable", "process listings are not available on this server")
	}
	in := activities.TopProcessesInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(), Sort: string(srt), Limit: limit}
	lctx, cancel := context.WithTimeout(ctx, processesTimeout)
	defer cancel()
	if _, err := pf.FetchTopProcesses(lctx, in); err != nil {
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &app):
			return nil, Errorf(http.StatusBadGateway, "device_error", app.Message())
		case errors.Is(err, context.DeadlineExceeded):
			return nil, Errorf(http.StatusGatewayTimeout, "timeout", "the device did not answer in time")
		}
		return nil, TemporalUnavailable(err)
	}
	snap, err := store.TakeProcessSnapshot(context.WithoutCancel(ctx), s.Pool, uuid.MustParse(in.FetchID))
	if err != nil {
		return nil, err
	}
	var l activities.ProcessListing
	if err := json.Unmarshal(snap.Body, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
