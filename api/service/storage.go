package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/store"
	"go.temporal.io/sdk/temporal"
)

// snapshotsTimeout bounds how long a snapshot listing waits for the device.
const snapshotsTimeout = 60 * time.Second

// SnapshotFetcher lists snapshots through a workflow; *workflows.Client implements it.
type SnapshotFetcher interface {
	FetchSnapshots(ctx context.Context, in activities.FetchSnapshotsInput) (*activities.FetchSnapshotsResult, error)
}

// FetchSnapshots runs the ZFSSnapshots workflow and takes the page it stored (deleting it: it is read once).
func (s *Service) FetchSnapshots(ctx context.Context, in activities.FetchSnapshotsInput) (*activities.SnapshotPage, error) {
	f, ok := s.Workflows.(SnapshotFetcher)
	if !ok || s.Workflows == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "unavailable", "snapshot listing needs the workflow service")
	}
	sctx, cancel := context.WithTimeout(ctx, snapshotsTimeout)
	defer cancel()
	if _, err := f.FetchSnapshots(sctx, in); err != nil {
		return nil, err
	}
	var body []byte
	if err := s.Pool.QueryRow(context.WithoutCancel(ctx), `DELETE FROM zfs_snapshot_fetches WHERE id = $1 RETURNING body`,
		in.FetchID).Scan(&body); err != nil {
		return nil, err
	}
	var page activities.SnapshotPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// SnapshotError maps a failed snapshot listing to the envelope: a cursor the API did not issue is the caller's
// error, a device that failed or did not answer is a gateway error.
func SnapshotError(err error) error {
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &app) && app.Type() == activities.ErrTypeBadCursor:
		return Invalid(map[string]string{"cursor": "is not a cursor this API returned"})
	case errors.As(err, &app):
		return Errorf(http.StatusBadGateway, "device_error", app.Message())
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(http.StatusGatewayTimeout, "timeout", "the device did not answer in time")
	}
	return err
}

// DriveHealths are the verdicts a drive can have.
var DriveHealths = []string{"ok", "warning", "failing", "unknown"}

// CountBy counts items by key.
func CountBy[T any](items []T, key func(T) string) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[key(it)]++
	}
	return out
}

// SelfTestInput names the drive by serial and carries where it was last seen (path and smartctl type), which
// the operation checks against the drive's serial before testing.
func (s *Service) SelfTestInput(ctx context.Context, d *store.Device, serial, typ string) (activities.DeviceOpInput, error) {
	if typ != smart.SelfTestShort && typ != smart.SelfTestLong {
		return activities.DeviceOpInput{}, Invalid(map[string]string{"type": "must be short or long"})
	}
	drive, err := store.GetDrive(ctx, s.Pool, d.ID, serial)
	if errors.Is(err, store.ErrNotFound) {
		return activities.DeviceOpInput{}, NotFound("drive " + serial + " on device " + d.Name)
	}
	if err != nil {
		return activities.DeviceOpInput{}, err
	}
	if drive.ReadAt == nil {
		return activities.DeviceOpInput{}, Errorf(http.StatusConflict, "drive_unread",
			fmt.Sprintf("drive %s has never been read (%s): it cannot be self-tested", serial, drive.State))
	}
	params := map[string]string{"path": drive.DevicePath}
	if drive.Type != "" {
		params["type"] = drive.Type
	}
	return activities.DeviceOpInput{Kind: activities.OpKindSMARTSelfTest, Target: serial, Action: typ, Params: params}, nil
}
