package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// ComposeWorkdir is a compose project's working directory on a device as an operator confirmed it. The
// directory is read from a container label that any image can set, so compose actions only use a confirmed one
// (#15).
type ComposeWorkdir struct {
	DeviceID    uuid.UUID `json:"device_id"`
	Project     string    `json:"project"`
	WorkingDir  string    `json:"working_dir"`
	ConfirmedAt time.Time `json:"confirmed_at"`
	// TokenName is the name of the token that confirmed it.
	TokenName string `json:"token_name,omitempty"`
}

// ConfirmComposeWorkdir records w as confirmed by the token (nil when none), replacing an earlier confirmation
// of the same project; ConfirmedAt is set from the database clock.
func ConfirmComposeWorkdir(ctx context.Context, db DBTX, w *ComposeWorkdir, tokenID *uuid.UUID) error {
	err := db.QueryRow(ctx, `INSERT INTO compose_workdirs (device_id, project, working_dir, token_id, token_name)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (device_id, project) DO UPDATE SET working_dir = EXCLUDED.working_dir,
			confirmed_at = now(), token_id = EXCLUDED.token_id, token_name = EXCLUDED.token_name
		RETURNING confirmed_at`, w.DeviceID, w.Project, w.WorkingDir, tokenID, w.TokenName).Scan(&w.ConfirmedAt)
	return mapErr(err)
}

// ConfirmedComposeWorkdir returns the confirmed working directory of a device's compose project, or
// ErrNotFound when none was confirmed.
func ConfirmedComposeWorkdir(ctx context.Context, db DBTX, deviceID uuid.UUID, project string) (*ComposeWorkdir, error) {
	w := &ComposeWorkdir{DeviceID: deviceID, Project: project}
	err := db.QueryRow(ctx, `SELECT working_dir, confirmed_at, token_name FROM compose_workdirs
		WHERE device_id = $1 AND project = $2`, deviceID, project).Scan(&w.WorkingDir, &w.ConfirmedAt, &w.TokenName)
	if err != nil {
		return nil, mapErr(err)
	}
	return w, nil
}
