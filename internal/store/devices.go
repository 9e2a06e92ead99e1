package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Device statuses (defined in package vocab).
const (
	StatusUnknown = vocab.StatusUnknown
	StatusOnline  = vocab.StatusOnline
	StatusOffline = vocab.StatusOffline
	StatusBlocked = vocab.StatusBlocked
)

// Host-key policies.
const (
	PolicyRequireApproval = "require_approval"
	PolicyTrustFirstUse   = "trust_first_use"
)

// Device is one managed machine.
type Device struct {
	ID            uuid.UUID     `json:"id"`
	Name          string        `json:"name"`
	Host          string        `json:"host"`
	Port          int           `json:"port"`
	User          string        `json:"user"`
	Description   string        `json:"description"`
	DeviceType    string        `json:"device_type"`
	Tags          []string      `json:"tags"`
	PollInterval  time.Duration `json:"-"`
	Enabled       bool          `json:"enabled"`
	JumpHost      *string       `json:"jump_host"`
	HostKeyPolicy string        `json:"host_key_policy"`
	// ReadOnly devices are monitored only: every container, compose or maintenance operation on them is refused
	// before the worker dials, for devices whose key allows monitoring commands only.
	ReadOnly bool `json:"read_only"`
	// DockerHost, when set, is the DOCKER_HOST the docker commands on the device use (unix:///path or
	// tcp://host:port), typically a socket proxy that exposes only the API calls Infrastructor makes.
	DockerHost *string `json:"docker_host"`
	// InventoryInterval is the cadence of the slow collection (drives, pools, services, updates, VMs, networks).
	InventoryInterval time.Duration `json:"-"`
	// UseSudo runs the commands that need root (smartctl, systemctl and virsh actions, package-list refreshes)
	// through `sudo -n`, under the sudo rules the device's setup installed.
	UseSudo bool `json:"use_sudo"`
	// WatchedUnits are the systemd units whose state the services collection reads and judges (besides the
	// failed ones), as systemd names them ("nginx.service"); the device's tags may name more.
	WatchedUnits []string        `json:"watched_units"`
	Status       string          `json:"status"`
	StatusReason string          `json:"status_reason"`
	LastSeen     *time.Time      `json:"last_seen"`
	Capabilities json.RawMessage `json:"capabilities,omitempty"`
	// Docker is the device's docker availability at the last poll (nil before the first container inventory).
	Docker    json.RawMessage `json:"docker,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// MarshalJSON writes poll_interval as a duration string ("30s"), the wire form clients send.
func (d Device) MarshalJSON() ([]byte, error) {
	type plain Device
	if d.Tags == nil {
		d.Tags = []string{}
	}
	if d.WatchedUnits == nil {
		d.WatchedUnits = []string{}
	}
	return json.Marshal(struct {
		plain
		PollInterval      string `json:"poll_interval"`
		InventoryInterval string `json:"inventory_interval"`
	}{plain(d), d.PollInterval.String(), d.InventoryInterval.String()})
}

const deviceColumns = `id, name, host, port, ssh_user, description, device_type, tags, poll_interval_ms, enabled,
	jump_host, host_key_policy, status, status_reason, last_seen, capabilities, docker, created_at, updated_at,
	read_only, docker_host, inventory_interval_ms, use_sudo, watched_units`

func scanDevice(row pgx.Row) (*Device, error) {
	var d Device
	var ms, invMS int64
	var caps, dock []byte
	err := row.Scan(&d.ID, &d.Name, &d.Host, &d.Port, &d.User, &d.Description, &d.DeviceType, &d.Tags, &ms,
		&d.Enabled, &d.JumpHost, &d.HostKeyPolicy, &d.Status, &d.StatusReason, &d.LastSeen, &caps, &dock,
		&d.CreatedAt, &d.UpdatedAt, &d.ReadOnly, &d.DockerHost, &invMS, &d.UseSudo, &d.WatchedUnits)
	if err != nil {
		return nil, mapErr(err)
	}
	d.PollInterval = time.Duration(ms) * time.Millisecond
	d.InventoryInterval = time.Duration(invMS) * time.Millisecond
	if len(caps) > 0 {
		d.Capabilities = caps
	}
	if len(dock) > 0 {
		d.Docker = dock
	}
	return &d, nil
}

// CreateDevice inserts d, filling ID, status and timestamps.
func CreateDevice(ctx context.Context, db DBTX, d *Device) (*Device, error) {
	if d.ID == uuid.Nil {
		d.ID = uuid.New()
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	row := db.QueryRow(ctx, `INSERT INTO devices (id, name, host, port, ssh_user, description, device_type, tags,
		poll_interval_ms, enabled, jump_host, host_key_policy, read_only, docker_host, inventory_interval_ms, use_sudo,
		watched_units)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) RETURNING `+deviceColumns,
		d.ID, d.Name, d.Host, d.Port, d.User, d.Description, d.DeviceType, d.Tags, d.PollInterval.Milliseconds(),
		d.Enabled, d.JumpHost, d.HostKeyPolicy, d.ReadOnly, d.DockerHost, inventoryMS(d), d.UseSudo, watchedOf(d))
	return scanDevice(row)
}

// DefaultInventoryInterval is the slow collection's cadence of a device that names none.
const DefaultInventoryInterval = 10 * time.Minute

func inventoryMS(d *Device) int64 {
	if d.InventoryInterval <= 0 {
		return DefaultInventoryInterval.Milliseconds()
	}
	return d.InventoryInterval.Milliseconds()
}

// GetDevice returns the device with id.
func GetDevice(ctx context.Context, db DBTX, id uuid.UUID) (*Device, error) {
	return scanDevice(db.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id))
}

// GetDeviceByName returns the device named name (case-insensitive).
func GetDeviceByName(ctx context.Context, db DBTX, name string) (*Device, error) {
	return scanDevice(db.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE lower(name) = lower($1)`, name))
}

// UpdateDevice writes every editable field of d and returns the stored row.
func UpdateDevice(ctx context.Context, db DBTX, d *Device) (*Device, error) {
	row := db.QueryRow(ctx, `UPDATE devices SET name=$2, host=$3, port=$4, ssh_user=$5, description=$6,
		device_type=$7, tags=$8, poll_interval_ms=$9, enabled=$10, jump_host=$11, host_key_policy=$12,
		read_only=$13, docker_host=$14, inventory_interval_ms=$15, use_sudo=$16, watched_units=$17, updated_at=now()
		WHERE id=$1 RETURNING `+deviceColumns,
		d.ID, d.Name, d.Host, d.Port, d.User, d.Description, d.DeviceType, d.Tags, d.PollInterval.Milliseconds(),
		d.Enabled, d.JumpHost, d.HostKeyPolicy, d.ReadOnly, d.DockerHost, inventoryMS(d), d.UseSudo, watchedOf(d))
	return scanDevice(row)
}

// DeleteDevice removes the device and, by cascade, its keys, state and events.
func DeleteDevice(ctx context.Context, db DBTX, id uuid.UUID) error {
	tag, err := db.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeviceFilter selects devices for ListDevices. Empty fields do not filter.
type DeviceFilter struct {
	Tag     string
	Status  string
	Text    string // matched against name, host and description
	Enabled *bool
	After   string // cursor: the name of the last device of the previous page
	Limit   int
}

// ListDevices returns devices ordered by name, and the cursor of the next page ("" on the last page).
func ListDevices(ctx context.Context, db DBTX, f DeviceFilter) ([]*Device, string, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Tag != "" {
		add("$%d = ANY(tags)", f.Tag)
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.Text != "" {
		add("(name || ' ' || host || ' ' || description) ILIKE '%%' || $%d || '%%'", escapeLike(f.Text))
	}
	if f.Enabled != nil {
		add("enabled = $%d", *f.Enabled)
	}
	if f.After != "" {
		add("lower(name) > lower($%d)", f.After)
	}
	if f.Limit <= 0 {
		f.Limit = 1 << 30
	}
	q := `SELECT ` + deviceColumns + ` FROM devices`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1)
	q += fmt.Sprintf(" ORDER BY lower(name) LIMIT $%d", len(args))
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].Name
	}
	return out, next, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SetDeviceStatus sets status and reason; when seen is non-nil it also moves last_seen forward.
// It returns the previous status so callers can record a transition once.
func SetDeviceStatus(ctx context.Context, db DBTX, id uuid.UUID, status, reason string, seen *time.Time) (string, error) {
	var prev string
	err := db.QueryRow(ctx, `UPDATE devices d SET status = $2, status_reason = $3,
		last_seen = CASE WHEN $4::timestamptz IS NULL THEN d.last_seen ELSE greatest(d.last_seen, $4::timestamptz) END
		FROM (SELECT status FROM devices WHERE id = $1 FOR UPDATE) old
		WHERE d.id = $1 RETURNING old.status`, id, status, reason, seen).Scan(&prev)
	if err != nil {
		return "", mapErr(err)
	}
	if prev != status {
		err = Publish(ctx, db, TopicDeviceStatus(id.String()), map[string]string{"device_id": id.String(),
			"status": status, "previous_status": prev, "reason": reason})
	}
	return prev, err
}

// SetCapabilities stores the capability document detected on the device.
func SetCapabilities(ctx context.Context, db DBTX, id uuid.UUID, caps any) error {
	b, err := json.Marshal(caps)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `UPDATE devices SET capabilities = $2 WHERE id = $1`, id, b)
	return mapErr(err)
}
