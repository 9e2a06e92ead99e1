package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// ScheduleSpec is when a user schedule runs: a cron expression or an interval, in a time zone.
type ScheduleSpec struct {
	Cron     string `json:"cron,omitempty"`
	Every    string `json:"every,omitempty"`
	Offset   string `json:"offset,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
}

// Schedule action types.
const (
	ScheduleContainer     = "container"      // a container action (start, stop, restart, ...) on one container
	ScheduleComposeUpdate = "compose_update" // compose pull, then up, of one project (or of those with image updates)
	ScheduleImagePrune    = "image_prune"    // docker image prune
	ScheduleZFSScrub      = "zfs_scrub"      // scrub a ZFS pool, or every pool of the device (#11)
)

// ScheduleAction is what a user schedule does, on one device or on every device with a tag (a fleet
// operation with a concurrency limit, stopping at the first failure unless told otherwise).
type ScheduleAction struct {
	Type      string `json:"type"`
	DeviceID  string `json:"device_id,omitempty"`
	Tag       string `json:"tag,omitempty"`
	Container string `json:"container,omitempty"`
	Action    string `json:"action,omitempty"`
	Project   string `json:"project,omitempty"`
	// Pool is the pool a zfs_scrub schedule scrubs, or "*" for every pool the device has when the run starts.
	Pool          string `json:"pool,omitempty"`
	Concurrency   int    `json:"concurrency,omitempty"`
	StopOnFailure bool   `json:"stop_on_failure"`
	// OnlyWithUpdates (compose_update) acts only on the compose projects with a running container whose image has
	// an update in its registry when the run starts; the others are recorded as skipped. Without Project, every
	// compose project of the device is considered.
	OnlyWithUpdates bool `json:"only_with_updates,omitempty"`
}

// UserSchedule is a stored user schedule; Temporal holds the schedule itself.
type UserSchedule struct {
	ID        uuid.UUID      `json:"id"`
	Name      string         `json:"name"`
	Spec      ScheduleSpec   `json:"spec"`
	Action    ScheduleAction `json:"action"`
	Overlap   string         `json:"overlap"`
	Paused    bool           `json:"paused"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

const scheduleColumns = `id, name, spec, action, overlap, paused, created_at, updated_at`

func scanSchedule(row pgx.Row) (*UserSchedule, error) {
	var s UserSchedule
	var spec, action []byte
	if err := row.Scan(&s.ID, &s.Name, &spec, &action, &s.Overlap, &s.Paused, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	if err := json.Unmarshal(spec, &s.Spec); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(action, &s.Action); err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateUserSchedule inserts s.
func CreateUserSchedule(ctx context.Context, db DBTX, s *UserSchedule) (*UserSchedule, error) {
	if s.ID == uuid.Nil {
		s.ID = uuid.New()
	}
	spec, err := json.Marshal(s.Spec)
	if err != nil {
		return nil, err
	}
	action, err := json.Marshal(s.Action)
	if err != nil {
		return nil, err
	}
	return scanSchedule(db.QueryRow(ctx, `INSERT INTO user_schedules (id, name, spec, action, overlap, paused)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING `+scheduleColumns, s.ID, s.Name, spec, action, s.Overlap, s.Paused))
}

// GetUserSchedule returns one schedule.
func GetUserSchedule(ctx context.Context, db DBTX, id uuid.UUID) (*UserSchedule, error) {
	return scanSchedule(db.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM user_schedules WHERE id = $1`, id))
}

// ListUserSchedules returns every schedule by name.
func ListUserSchedules(ctx context.Context, db DBTX) ([]*UserSchedule, error) {
	rows, err := db.Query(ctx, `SELECT `+scheduleColumns+` FROM user_schedules ORDER BY lower(name)`)
	return scanRows(scanSchedule, rows, err)
}

// SetUserSchedulePaused records whether the schedule is paused.
func SetUserSchedulePaused(ctx context.Context, db DBTX, id uuid.UUID, paused bool) error {
	return execOne(db.Exec(ctx, `UPDATE user_schedules SET paused = $2, updated_at = now() WHERE id = $1`, id, paused))
}

// UpdateUserSchedule replaces the name, spec, action and overlap policy of schedule s.ID (not its paused state,
// which follows Temporal through SetUserSchedulePaused). ErrConflict when the name is taken, ErrNotFound when
// the schedule is gone.
func UpdateUserSchedule(ctx context.Context, db DBTX, s *UserSchedule) (*UserSchedule, error) {
	spec, err := json.Marshal(s.Spec)
	if err != nil {
		return nil, err
	}
	action, err := json.Marshal(s.Action)
	if err != nil {
		return nil, err
	}
	return scanSchedule(db.QueryRow(ctx, `UPDATE user_schedules SET name = $2, spec = $3, action = $4, overlap = $5,
		updated_at = now() WHERE id = $1 RETURNING `+scheduleColumns, s.ID, s.Name, spec, action, s.Overlap))
}

// DeleteUserSchedule removes a schedule and its runs.
func DeleteUserSchedule(ctx context.Context, db DBTX, id uuid.UUID) error {
	return execOne(db.Exec(ctx, `DELETE FROM user_schedules WHERE id = $1`, id))
}

// Schedule run states (defined in package vocab).
const (
	RunRunning   = vocab.RunRunning
	RunSucceeded = vocab.RunSucceeded
	RunFailed    = vocab.RunFailed
)

// ScheduleRun is one run of a user schedule: one workflow.
type ScheduleRun struct {
	ID         int64           `json:"id"`
	ScheduleID uuid.UUID       `json:"schedule_id"`
	WorkflowID string          `json:"workflow_id"`
	State      string          `json:"state"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

// BeginScheduleRun records a run; a retried call for the same workflow changes nothing.
func BeginScheduleRun(ctx context.Context, db DBTX, scheduleID uuid.UUID, workflowID string, t time.Time) error {
	_, err := db.Exec(ctx, `INSERT INTO user_schedule_runs (schedule_id, workflow_id, started_at) VALUES ($1,$2,$3)
		ON CONFLICT (workflow_id) DO NOTHING`, scheduleID, workflowID, t)
	return mapErr(err)
}

// FinishScheduleRun records a run's outcome.
func FinishScheduleRun(ctx context.Context, db DBTX, workflowID, state string, result any, errMsg string, t time.Time) error {
	raw, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return execOne(db.Exec(ctx, `UPDATE user_schedule_runs SET state=$2, result=$3, error=$4, finished_at=$5
		WHERE workflow_id=$1`, workflowID, state, raw, errMsg, t))
}

// ListScheduleRuns returns a schedule's latest runs, newest first.
func ListScheduleRuns(ctx context.Context, db DBTX, scheduleID uuid.UUID, limit int) ([]*ScheduleRun, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := db.Query(ctx, `SELECT id, schedule_id, workflow_id, state, result, error, started_at, finished_at
		FROM user_schedule_runs WHERE schedule_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, scheduleID, limit)
	return scanRows(func(row pgx.Row) (*ScheduleRun, error) {
		var r ScheduleRun
		var res []byte
		if err := row.Scan(&r.ID, &r.ScheduleID, &r.WorkflowID, &r.State, &res, &r.Error, &r.StartedAt, &r.FinishedAt); err != nil {
			return nil, err
		}
		if len(res) > 0 {
			r.Result = res
		}
		return &r, nil
	}, rows, err)
}

// DevicesForTarget returns the enabled devices a schedule acts on: the one device, or every enabled device
// with the tag, by name.
func DevicesForTarget(ctx context.Context, db DBTX, deviceID, tag string) ([]*Device, error) {
	if deviceID != "" {
		id, err := uuid.Parse(deviceID)
		if err != nil {
			return nil, ErrNotFound
		}
		d, err := GetDevice(ctx, db, id)
		if err != nil {
			return nil, err
		}
		return []*Device{d}, nil
	}
	enabled := true
	out, _, err := ListDevices(ctx, db, DeviceFilter{Tag: tag, Enabled: &enabled})
	return out, err
}
