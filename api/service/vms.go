package service

import (
	"context"
	"errors"

	"github.com/infrastructor/infrastructor/internal/store"
)

// VMView is a device's VMs as of the last collection.
type VMView struct {
	DeviceID    string      `json:"device_id"`
	DeviceName  string      `json:"device_name"`
	Collected   bool        `json:"collected"`
	Available   bool        `json:"available"`
	Error       string      `json:"error,omitempty"`
	CollectedAt any         `json:"collected_at"`
	Items       []*store.VM `json:"items"`
}

// VMsOf reads a device's collected virtual machines (#13).
func (s *Service) VMsOf(ctx context.Context, d *store.Device) (*VMView, error) {
	v := &VMView{DeviceID: d.ID.String(), DeviceName: d.Name, Items: []*store.VM{}}
	h, err := store.GetVMHost(ctx, s.Pool, d.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return v, nil
	case err != nil:
		return nil, err
	}
	v.Collected, v.Available, v.Error, v.CollectedAt = true, h.Available, h.Error, h.CollectedAt
	vms, err := store.ListVMs(ctx, s.Pool, store.VMFilter{DeviceID: &d.ID})
	if err != nil {
		return nil, err
	}
	if vms != nil {
		v.Items = vms
	}
	return v, nil
}
