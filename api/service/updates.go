package service

import (
	"context"

	"github.com/infrastructor/infrastructor/internal/store"
)

// FleetUpdateList reads the devices' pending package updates (#13) under f, with the fleet's totals.
func (s *Service) FleetUpdateList(ctx context.Context, f store.UpdatesFilter) ([]*store.DeviceUpdates, *store.UpdatesTotals, error) {
	items, err := store.ListUpdates(ctx, s.Pool, f)
	if err != nil {
		return nil, nil, err
	}
	if items == nil {
		items = []*store.DeviceUpdates{}
	}
	totals, err := store.CountUpdates(ctx, s.Pool)
	return items, totals, err
}
