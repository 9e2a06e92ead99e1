package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DeviceImage is one image a device's running containers use, with its registry digests.
type DeviceImage struct {
	ID          string
	RepoDigests []string
}

// ReplaceDeviceImages stores the device's images as collected now, dropping those no running container uses
// any more.
func ReplaceDeviceImages(ctx context.Context, db TxStarter, deviceID uuid.UUID, images []DeviceImage, now time.Time) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		ids := make([]string, 0, len(images))
		for _, im := range images {
			ids = append(ids, im.ID)
			digests := im.RepoDigests
			if digests == nil {
				digests = []string{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO device_images (device_id, image_id, repo_digests, seen_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, image_id) DO UPDATE SET repo_digests = $3, seen_at = $4`,
				deviceID, im.ID, digests, now); err != nil {
				return mapErr(err)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM device_images WHERE device_id = $1 AND NOT image_id = ANY($2)`, deviceID, ids)
		return mapErr(err)
	})
}

// ImageCheck is the registry's answer for one canonical image reference.
type ImageCheck struct {
	Ref          string    `json:"ref"`
	CheckedAt    time.Time `json:"checked_at"`
	RemoteDigest string    `json:"remote_digest,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// RunningImageRefs returns the image references (as containers name them) of every running container in the fleet.
func RunningImageRefs(ctx context.Context, db DBTX) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT image FROM containers WHERE state = 'running' ORDER BY image`)
	if err != nil {
		return nil, mapErr(err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return refs, mapErr(err)
}

// ImageChecks returns the stored checks by canonical reference.
func ImageChecks(ctx context.Context, db DBTX) (map[string]ImageCheck, error) {
	rows, err := db.Query(ctx, `SELECT ref, checked_at, remote_digest, error FROM image_checks`)
	if err != nil {
		return nil, mapErr(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ImageCheck])
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[string]ImageCheck, len(list))
	for _, c := range list {
		out[c.Ref] = c
	}
	return out, nil
}

// SaveImageCheck stores a check's outcome. A failed check keeps the digest of the last good one, so a registry
// that is down for a while leaves what was known in place (marked with the error).
func SaveImageCheck(ctx context.Context, db DBTX, c ImageCheck) error {
	_, err := db.Exec(ctx, `INSERT INTO image_checks (ref, checked_at, remote_digest, error) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ref) DO UPDATE SET checked_at = $2, error = $4,
			remote_digest = CASE WHEN $4 = '' THEN $3 ELSE image_checks.remote_digest END`,
		c.Ref, c.CheckedAt, c.RemoteDigest, c.Error)
	return mapErr(err)
}

// ContainerImage is a running container with what is known of its image's registry digests.
type ContainerImage struct {
	DeviceID       uuid.UUID
	Device         string
	Container      string
	Image          string
	ComposeProject string
	RepoDigests    []string
}

// RunningContainerImages returns the running containers (of one device when deviceID is set) with their images'
// registry digests.
func RunningContainerImages(ctx context.Context, db DBTX, deviceID *uuid.UUID) ([]ContainerImage, error) {
	rows, err := db.Query(ctx, `SELECT c.device_id, d.name, c.name, c.image, c.compose_project, coalesce(di.repo_digests, '{}')
		FROM containers c JOIN devices d ON d.id = c.device_id
		LEFT JOIN device_images di ON di.device_id = c.device_id AND di.image_id = c.detail->>'image_id'
		WHERE c.state = 'running' AND ($1::uuid IS NULL OR c.device_id = $1)
		ORDER BY d.name, c.name`, deviceID)
	if err != nil {
		return nil, mapErr(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ContainerImage])
	return list, mapErr(err)
}
