package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// FetchSnapshotsInput asks for one page of a device's ZFS snapshots (of one dataset, or all when Dataset is ""),
// after Cursor. The page is written to zfs_snapshot_fetches under FetchID for the API to read; only counts come
// back, so snapshot names never enter workflow history.
type FetchSnapshotsInput struct {
	FetchID  string
	DeviceID string
	Dataset  string `json:",omitempty"`
	Cursor   string `json:",omitempty"`
	Limit    int
}

// FetchSnapshotsResult tells how much was fetched.
type FetchSnapshotsResult struct {
	Snapshots int
	More      bool `json:",omitempty"`
}

// SnapshotPage is what FetchSnapshots stores for the API.
type SnapshotPage struct {
	Snapshots  []zfs.Snapshot `json:"snapshots"`
	NextCursor string         `json:"next_cursor,omitempty"`
	// Truncated is set when the device's listing exceeded the output cap, so later snapshots are missing.
	Truncated bool `json:"truncated,omitempty"`
}

// ErrTypeBadCursor marks a snapshot cursor the API did not issue.
const ErrTypeBadCursor = "BadCursor"

// FetchSnapshots lists snapshots on the device (`zfs list -t snapshot -s creation`) and keeps one page, streamed
// through zfs.ListSnapshots, so memory is bounded by the page size.
func (a *Activities) FetchSnapshots(ctx context.Context, in FetchSnapshotsInput) (*FetchSnapshotsResult, error) {
	id, err1 := uuid.Parse(in.DeviceID)
	fetchID, err2 := uuid.Parse(in.FetchID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	cmd, err := zfs.SnapshotsCommand(in.Dataset)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, err
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := a.deviceRunner(dev, target)(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		msg := safetext.Clip(string(bytes.TrimSpace(outputOf(res.Stderr, res.Stdout))), 300)
		return nil, temporal.NewNonRetryableApplicationError("zfs list failed: "+msg, ErrTypeCommandFailed, nil)
	}
	page, next, err := zfs.ListSnapshots(bytes.NewReader(res.Stdout), in.Dataset, in.Cursor, in.Limit)
	if errors.Is(err, zfs.ErrBadCursor) {
		return nil, temporal.NewNonRetryableApplicationError("bad cursor", ErrTypeBadCursor, nil)
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	if page == nil {
		page = []zfs.Snapshot{}
	}
	body, err := json.Marshal(SnapshotPage{Snapshots: page, NextCursor: next, Truncated: res.Truncated})
	if err != nil {
		return nil, err
	}
	if _, err := a.DB.Exec(ctx, `INSERT INTO zfs_snapshot_fetches (id, device_id, body) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET body = $3`, fetchID, id, body); err != nil {
		return nil, fmt.Errorf("store snapshots of %s: %w", dev.Name, err)
	}
	_, _ = a.DB.Exec(ctx, `DELETE FROM zfs_snapshot_fetches WHERE created_at < now() - interval '1 hour'`)
	return &FetchSnapshotsResult{Snapshots: len(page), More: next != ""}, nil
}
