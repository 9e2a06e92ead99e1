package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// ContainerSample is one running container's resource use over a poll interval.
type ContainerSample struct {
	ContainerID   string
	Name          string
	CPUPercent    *float64
	MemUsed       uint64
	MemLimit      uint64
	NetRxBps      *float64
	NetTxBps      *float64
	BlockReadBps  *float64
	BlockWriteBps *float64
	PIDs          uint64
}

// ContainerWrite is the container part of a poll.
type ContainerWrite struct {
	// Docker is whether docker could be used on the device this poll.
	Docker docker.Availability
	// List is the complete inventory; nil when docker was not available, which leaves the stored inventory as
	// it was (a daemon restart must not look like every container was removed).
	List    []docker.Container
	Changes []docker.Change
	Samples []ContainerSample
	// Counters are the raw cgroup counters kept for the next poll's rates.
	Counters *docker.CgroupSnapshot
	// Stored is the inventory as stored before this poll (LoadContainers), when the caller has it: containers
	// equal to their stored row are not written again. Nil writes every container of List, and reconciles
	// removed ones.
	Stored []docker.Container
}

// LoadContainers returns the stored inventory of a device.
func LoadContainers(ctx context.Context, db DBTX, id uuid.UUID) ([]docker.Container, error) {
	rows, err := db.Query(ctx, `SELECT detail FROM containers WHERE device_id = $1 ORDER BY name`, id)
	return scanRows(func(row pgx.Row) (docker.Container, error) {
		var c docker.Container
		var raw []byte
		if err := row.Scan(&raw); err != nil {
			return c, err
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return c, err
		}
		return c, nil
	}, rows, err)
}

// LoadContainerCounters returns the cgroup counters of the device's last poll, or nil.
func LoadContainerCounters(ctx context.Context, db DBTX, id uuid.UUID) (*docker.CgroupSnapshot, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT container_counters FROM device_poll_state WHERE device_id = $1`, id).Scan(&raw)
	if err == pgx.ErrNoRows || len(raw) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s docker.CgroupSnapshot
	if json.Unmarshal(raw, &s) != nil {
		return nil, nil
	}
	return &s, nil
}

// writeContainers stores the container part of a poll inside the poll's transaction. Only the containers that are
// new or differ from w.Stored are written (#17: rewriting every row every poll was most of a poll's WAL); the time
// of the listing (device_poll_state.containers_listed_at, which readers show as the containers' "as of") and the
// cgroup counters are written with the poll's state in WritePoll, docker's availability with the device's status,
// the samples with the poll's other samples (copySamples).
func writeContainers(ctx context.Context, tx pgx.Tx, id uuid.UUID, t time.Time, w *ContainerWrite) error {
	if w.List == nil {
		return nil
	}
	stored := make(map[string][]byte, len(w.Stored))
	for _, c := range w.Stored {
		if b, err := json.Marshal(c); err == nil {
			stored[c.ID] = b
		}
	}
	ids := make([]string, 0, len(w.List))
	var up struct {
		ids, names, images, states, healths, projects, services []string
		exits, restarts                                         []int32
		started                                                 []*time.Time
		details                                                 []string
	}
	for _, c := range w.List {
		ids = append(ids, c.ID)
		detail, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if prev, ok := stored[c.ID]; ok && bytes.Equal(prev, detail) {
			continue
		}
		var started *time.Time
		if !c.Started.IsZero() {
			started = &c.Started
		}
		up.ids, up.names, up.images = append(up.ids, c.ID), append(up.names, c.Name), append(up.images, c.Image)
		up.states, up.healths = append(up.states, string(c.State)), append(up.healths, string(c.Health))
		up.projects, up.services = append(up.projects, c.ComposeProject), append(up.services, c.ComposeService)
		up.exits, up.restarts = append(up.exits, int32(c.ExitCode)), append(up.restarts, int32(c.RestartCount))
		up.started, up.details = append(up.started, started), append(up.details, string(detail))
	}
	if len(up.ids) > 0 {
		// One statement for every changed container, instead of one per container.
		if _, err := tx.Exec(ctx, `INSERT INTO containers (device_id, container_id, name, image, state, health,
			exit_code, restart_count, started_at, compose_project, compose_service, detail, updated_at)
			SELECT $1, u.* , $12 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
				$8::int[], $9::timestamptz[], $10::text[], $11::text[], $13::jsonb[]) AS u
			ON CONFLICT (device_id, container_id) DO UPDATE SET name = excluded.name, image = excluded.image,
			state = excluded.state, health = excluded.health, exit_code = excluded.exit_code,
			restart_count = excluded.restart_count, started_at = excluded.started_at,
			compose_project = excluded.compose_project, compose_service = excluded.compose_service,
			detail = excluded.detail, updated_at = excluded.updated_at`,
			id, up.ids, up.names, up.images, up.states, up.healths, up.exits, up.restarts, up.started, up.projects,
			up.services, t, up.details); err != nil {
			return fmt.Errorf("store containers: %w", err)
		}
	}
	// Only when a stored container is gone: the common poll changes nothing here and sends nothing.
	gone := len(w.Stored) != len(w.List) || w.Stored == nil
	if !gone {
		listed := make(map[string]bool, len(ids))
		for _, id := range ids {
			listed[id] = true
		}
		for _, c := range w.Stored {
			if !listed[c.ID] {
				gone = true
				break
			}
		}
	}
	if gone {
		if _, err := tx.Exec(ctx, `DELETE FROM containers WHERE device_id = $1 AND NOT (container_id = ANY($2))`, id, ids); err != nil {
			return err
		}
	}
	for _, ch := range w.Changes {
		data, _ := json.Marshal(ch)
		if err := InsertEvent(ctx, tx, &Event{DeviceID: &id, Kind: "container." + string(ch.Kind), Severity: ch.Severity(),
			Message: changeMessage(ch), Data: data}); err != nil {
			return err
		}
	}
	if len(w.Changes) > 0 {
		summary := make([]map[string]string, 0, len(w.Changes))
		for _, ch := range w.Changes {
			summary = append(summary, map[string]string{"container_id": ch.ContainerID, "name": ch.Name,
				"change": string(ch.Kind), "state": string(ch.State)})
		}
		if err := Publish(ctx, tx, TopicDeviceContainers(id.String()), map[string]any{"device_id": id, "changes": summary}); err != nil {
			return err
		}
	}
	return nil
}

func changeMessage(ch docker.Change) string {
	switch ch.Kind {
	case docker.ChangeDied:
		return fmt.Sprintf("container %s died with exit code %d", ch.Name, ch.ExitCode)
	case docker.ChangeRestarted:
		return fmt.Sprintf("container %s restarted %d time(s)", ch.Name, ch.Restarts)
	case docker.ChangeHealthChanged:
		return fmt.Sprintf("container %s is %s (was %s)", ch.Name, ch.Health, ch.PrevHealth)
	}
	return fmt.Sprintf("container %s %s", ch.Name, strings.ReplaceAll(string(ch.Kind), "_", " "))
}

// containerAsOf is the time of the last listing that saw the container as stored: an unchanged container's row is
// not rewritten (writeContainers), so its updated_at is when it last changed, and the device's last listing says
// it was still so then.
const containerAsOf = `greatest(c.updated_at, p.containers_listed_at)`

// ContainerRow is a stored container with its device.
type ContainerRow struct {
	DeviceID   uuid.UUID `json:"device_id"`
	DeviceName string    `json:"device_name"`
	docker.Container
	// UpdatedAt is the time of the poll this state is as of: the latest listing that saw the container.
	UpdatedAt time.Time `json:"updated_at"`
}

// ContainerFilter selects containers; empty fields do not filter. After is the cursor "<device name>/<name>".
type ContainerFilter struct {
	DeviceID *uuid.UUID
	State    string
	Project  string
	Name     string // substring
	After    string
	Limit    int
}

// ListContainers returns containers ordered by device name and container name, and the next cursor.
func ListContainers(ctx context.Context, db DBTX, f ContainerFilter) ([]*ContainerRow, string, error) {
	if f.Limit <= 0 {
		f.Limit = 1 << 30
	}
	rows, err := db.Query(ctx, `SELECT c.device_id, d.name, c.detail, `+containerAsOf+` FROM containers c
		JOIN devices d ON d.id = c.device_id LEFT JOIN device_poll_state p ON p.device_id = c.device_id
		WHERE ($1::uuid IS NULL OR c.device_id = $1) AND ($2 = '' OR c.state = $2)
		AND ($3 = '' OR c.compose_project = $3) AND ($4 = '' OR c.name ILIKE '%' || $4 || '%')
		AND ($5 = '' OR lower(d.name) || '/' || c.name > $5)
		ORDER BY lower(d.name), c.name LIMIT $6`, f.DeviceID, f.State, f.Project, escapeLike(f.Name), f.After, f.Limit+1)
	out, err := scanRows(scanContainerRow, rows, err)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = strings.ToLower(last.DeviceName) + "/" + last.Name
	}
	return out, next, nil
}

func scanContainerRow(row pgx.Row) (*ContainerRow, error) {
	var r ContainerRow
	var raw []byte
	if err := row.Scan(&r.DeviceID, &r.DeviceName, &raw, &r.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	if err := json.Unmarshal(raw, &r.Container); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetContainer finds a device's container by name, full ID or an ID prefix of at least 12 characters.
func GetContainer(ctx context.Context, db DBTX, deviceID uuid.UUID, ref string) (*ContainerRow, error) {
	return scanContainerRow(db.QueryRow(ctx, `SELECT c.device_id, d.name, c.detail, `+containerAsOf+` FROM containers c
		JOIN devices d ON d.id = c.device_id LEFT JOIN device_poll_state p ON p.device_id = c.device_id WHERE c.device_id = $1
		AND (c.name = $2 OR c.container_id = $2 OR (length($2) >= 12 AND c.container_id LIKE $3 || '%'))
		ORDER BY (c.name = $2) DESC LIMIT 1`, deviceID, ref, escapeLike(ref)))
}

// LatestContainerSample returns the container's most recent resource sample (within the last hour), or nil.
func LatestContainerSample(ctx context.Context, db DBTX, deviceID uuid.UUID, containerID string) (map[string]any, error) {
	var t time.Time
	var cpu *float32
	var mem, limit *int64
	var rx, tx, br, bw *float64
	var pids *int32
	err := db.QueryRow(ctx, `SELECT time, cpu_pct, mem_used, mem_limit, net_rx_bps, net_tx_bps, blk_read_bps,
		blk_write_bps, pids FROM container_metrics WHERE device_id = $1 AND container_id = $2
		AND time > now() - interval '1 hour' ORDER BY time DESC LIMIT 1`, deviceID, containerID).
		Scan(&t, &cpu, &mem, &limit, &rx, &tx, &br, &bw, &pids)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"time": t, "cpu_percent": cpu, "memory_used_bytes": mem, "memory_limit_bytes": limit,
		"net_rx_bytes_per_sec": rx, "net_tx_bytes_per_sec": tx, "block_read_bytes_per_sec": br,
		"block_write_bytes_per_sec": bw, "pids": pids}, nil
}
