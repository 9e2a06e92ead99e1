package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AlertConfig is the fleet-wide alert configuration as of one version of alert_config_version: every rule, every
// per-device override, every maintenance window and every channel. It is shared by concurrent evaluations and
// must not be modified.
type AlertConfig struct {
	Version   int64
	Rules     []*AlertRule
	Overrides map[uuid.UUID][]*RuleOverride // by device, each ordered by rule ID
	Windows   []*MaintenanceWindow
	Channels  []*Channel
}

// AlertConfigCache keeps one process's copy of the alert configuration (#17). Every evaluation reads the
// configuration's version in its own transaction, together with the device's own inputs; the copy is read again
// only when that version differs from the copy's. Migration 0021's triggers bump the version in the transaction of
// any change to the four tables, so a change is seen by the next evaluation on every worker once it commits.
// The zero value is ready to use.
type AlertConfigCache struct {
	mu  sync.Mutex
	cur *AlertConfig
	// loads counts how often the configuration was read from the database.
	loads atomic.Int64
}

// Loads is how many times the cache has read the configuration from the database.
func (c *AlertConfigCache) Loads() int64 { return c.loads.Load() }

func (c *AlertConfigCache) get(version int64) *AlertConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.Version == version {
		return c.cur
	}
	return nil
}

// put keeps cfg unless the cache already holds a later version (two evaluations may refresh at once).
func (c *AlertConfigCache) put(cfg *AlertConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || cfg.Version >= c.cur.Version {
		c.cur = cfg
	}
}

// LoadAlertInputsCached is LoadAlertInputs with the rules, overrides, windows and channels taken from cache while
// their version is unchanged. The device, its states (locked for update in a transaction) and its stale
// deliveries are read every time, with the version, in one round trip; a changed version costs a second one.
// A nil cache reads everything, as LoadAlertInputs.
func LoadAlertInputsCached(ctx context.Context, db BatchSender, cache *AlertConfigCache, deviceID uuid.UUID, staleAfter, staleBefore time.Time) (*AlertInputs, error) {
	if cache == nil {
		return LoadAlertInputs(ctx, db, deviceID, staleAfter, staleBefore)
	}
	b := &pgx.Batch{}
	// The version is read before the configuration it labels: a change committed in between makes the copy newer
	// than its label, which only costs a reload at the next evaluation, never a stale copy taken for current.
	b.Queue(`SELECT version FROM alert_config_version`)
	b.Queue(`SELECT `+deviceColumns+` FROM devices WHERE id = $1`, deviceID)
	b.Queue(`SELECT rule_id, subject, state FROM alert_states WHERE device_id = $1 FOR UPDATE`, deviceID)
	b.Queue(staleDeliveriesSQL, deviceID, staleBefore, staleAfter)
	br := db.SendBatch(ctx, b)
	in, version, err := readDeviceAlertInputs(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = mapErr(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("load alert inputs of %s: %w", deviceID, err)
	}
	cfg := cache.get(version)
	if cfg == nil {
		if cfg, err = loadAlertConfig(ctx, db, version); err != nil {
			return nil, fmt.Errorf("load alert inputs of %s: %w", deviceID, err)
		}
		cache.loads.Add(1)
		cache.put(cfg)
	}
	in.Rules, in.Overrides, in.Windows, in.Channels = cfg.Rules, cfg.Overrides[deviceID], cfg.Windows, cfg.Channels
	return in, nil
}

// staleDeliveriesSQL selects a device's deliveries pending without an attempt, created in ($3, $2).
const staleDeliveriesSQL = `SELECT n.alert_id, n.seq, n.id FROM notification_deliveries n JOIN alerts a ON a.id = n.alert_id
		WHERE a.device_id = $1 AND n.state = 'pending' AND n.attempts = 0 AND n.created_at < $2 AND n.created_at > $3
		ORDER BY n.alert_id, n.seq, n.id`

func readDeviceAlertInputs(br pgx.BatchResults) (*AlertInputs, int64, error) {
	var version int64
	if err := br.QueryRow().Scan(&version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, 0, errors.New("alert_config_version has no row")
		}
		return nil, 0, err
	}
	var in AlertInputs
	var err error
	if in.Device, err = scanDevice(br.QueryRow()); err != nil {
		return nil, 0, err
	}
	rows, qerr := br.Query()
	if in.States, err = scanStates(rows, qerr); err != nil {
		return nil, 0, err
	}
	rows, qerr = br.Query()
	if in.Stale, err = scanRows(func(row pgx.Row) (*PendingDelivery, error) {
		var d PendingDelivery
		return &d, row.Scan(&d.AlertID, &d.Seq, &d.ID)
	}, rows, qerr); err != nil {
		return nil, 0, err
	}
	return &in, version, nil
}

// loadAlertConfig reads the whole alert configuration in one round trip, in the orders LoadAlertInputs uses.
func loadAlertConfig(ctx context.Context, db BatchSender, version int64) (*AlertConfig, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + ruleColumns + ` FROM alert_rules ORDER BY builtin DESC, lower(name)`)
	b.Queue(`SELECT rule_id, device_id, warning, critical, duration_ms, enabled FROM alert_rule_overrides
		ORDER BY device_id, rule_id`)
	b.Queue(`SELECT ` + windowColumns + ` FROM maintenance_windows ORDER BY created_at`)
	b.Queue(`SELECT ` + channelColumns + ` FROM notification_channels ORDER BY lower(name)`)
	br := db.SendBatch(ctx, b)
	cfg, err := readAlertConfig(br, version)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = mapErr(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("alert configuration: %w", err)
	}
	return cfg, nil
}

func readAlertConfig(br pgx.BatchResults, version int64) (*AlertConfig, error) {
	cfg := &AlertConfig{Version: version, Overrides: map[uuid.UUID][]*RuleOverride{}}
	var err error
	rows, qerr := br.Query()
	if cfg.Rules, err = scanRows(scanRule, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	overrides, err := scanRows(scanOverride, rows, qerr)
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		cfg.Overrides[o.DeviceID] = append(cfg.Overrides[o.DeviceID], o)
	}
	rows, qerr = br.Query()
	if cfg.Windows, err = scanRows(scanWindow, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if cfg.Channels, err = scanRows(scanChannel, rows, qerr); err != nil {
		return nil, err
	}
	return cfg, nil
}
