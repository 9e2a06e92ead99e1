package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ImageCheck is the registry's answer for one image reference, shared by the fleet (#13).
type ImageCheck struct {
	Reference    string    `json:"reference"`
	RemoteDigest string    `json:"remote_digest"`
	Error        string    `json:"error"`
	CheckedAt    time.Time `json:"checked_at"`
}

// LockImageCheck takes the transaction-scoped lock of reference, so one check per reference runs at a time across
// workers, and returns the stored check (nil when none).
func LockImageCheck(ctx context.Context, tx pgx.Tx, reference string) (*ImageCheck, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('image-check:' || $1))`, reference); err != nil {
		return nil, mapErr(err)
	}
	var c ImageCheck
	err := tx.QueryRow(ctx, `SELECT reference, remote_digest, error, checked_at FROM image_checks WHERE reference = $1`,
		reference).Scan(&c.Reference, &c.RemoteDigest, &c.Error, &c.CheckedAt)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &c, nil
}

// SaveImageCheck stores the registry's answer for a reference.
func SaveImageCheck(ctx context.Context, db DBTX, c *ImageCheck) error {
	_, err := db.Exec(ctx, `INSERT INTO image_checks (reference, remote_digest, error, checked_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (reference) DO UPDATE SET remote_digest=EXCLUDED.remote_digest, error=EXCLUDED.error,
		checked_at=EXCLUDED.checked_at`, c.Reference, c.RemoteDigest, c.Error, c.CheckedAt)
	return mapErr(err)
}

// ContainerImage is what a running container's image is on its device, with the registry's latest answer.
type ContainerImage struct {
	DeviceID       uuid.UUID  `json:"device_id"`
	DeviceName     string     `json:"device_name"`
	ContainerID    string     `json:"container_id"`
	ContainerName  string     `json:"container_name"`
	ComposeProject string     `json:"compose_project,omitempty"`
	Image          string     `json:"image"`
	Reference      string     `json:"reference"`
	ImageID        string     `json:"image_id"`
	LocalDigests   []string   `json:"local_digests"`
	RemoteDigest   string     `json:"remote_digest"`
	CheckError     string     `json:"check_error,omitempty"`
	CheckedAt      *time.Time `json:"checked_at"`
	// UpdateAvailable is "available", "current" or "unknown" (see package imageupdate), computed by the caller.
	UpdateAvailable string    `json:"update_available"`
	CollectedAt     time.Time `json:"collected_at"`
}

// ReplaceContainerImages stores the images of a device's running containers.
func ReplaceContainerImages(ctx context.Context, db DBTX, device uuid.UUID, now time.Time, imgs []ContainerImage) error {
	ids := make([]string, 0, len(imgs))
	for _, c := range imgs {
		ids = append(ids, c.ContainerID)
		local := c.LocalDigests
		if local == nil {
			local = []string{}
		}
		if _, err := db.Exec(ctx, `INSERT INTO container_images (device_id, container_id, container_name, compose_project,
			image, reference, image_id, local_digests, collected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
			ON CONFLICT (device_id, container_id) DO UPDATE SET container_name=EXCLUDED.container_name,
			compose_project=EXCLUDED.compose_project, image=EXCLUDED.image, reference=EXCLUDED.reference,
			image_id=EXCLUDED.image_id, local_digests=EXCLUDED.local_digests, collected_at=EXCLUDED.collected_at`,
			device, c.ContainerID, c.ContainerName, c.ComposeProject, c.Image, c.Reference, c.ImageID, local, now); err != nil {
			return mapErr(err)
		}
	}
	_, err := db.Exec(ctx, `DELETE FROM container_images WHERE device_id = $1 AND NOT (container_id = ANY($2))`, device, ids)
	return mapErr(err)
}

// ListContainerImages returns the running containers' images of one device (or all, with nil) with the fleet's
// registry answers, by device and container name.
func ListContainerImages(ctx context.Context, db DBTX, device *uuid.UUID) ([]*ContainerImage, error) {
	rows, err := db.Query(ctx, `SELECT ci.device_id, d.name, ci.container_id, ci.container_name, ci.compose_project,
		ci.image, ci.reference, ci.image_id, ci.local_digests, coalesce(ic.remote_digest, ''), coalesce(ic.error, ''),
		ic.checked_at, ci.collected_at
		FROM container_images ci JOIN devices d ON d.id = ci.device_id
		LEFT JOIN image_checks ic ON ic.reference = ci.reference AND ci.reference <> ''
		WHERE ($1::uuid IS NULL OR ci.device_id = $1) ORDER BY d.name, ci.container_name`, device)
	return scanRows(func(row pgx.Row) (*ContainerImage, error) {
		var c ContainerImage
		err := row.Scan(&c.DeviceID, &c.DeviceName, &c.ContainerID, &c.ContainerName, &c.ComposeProject, &c.Image,
			&c.Reference, &c.ImageID, &c.LocalDigests, &c.RemoteDigest, &c.CheckError, &c.CheckedAt, &c.CollectedAt)
		return &c, err
	}, rows, err)
}
