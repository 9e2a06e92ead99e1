package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Host-key states and roles.
const (
	KeyPending  = "pending"
	KeyApproved = "approved"
	KeyRetired  = "retired"
	RoleDevice  = "device"
	RoleJump    = "jump"
)

// HostKey is a host key a device (or its jump host) offered.
type HostKey struct {
	DeviceID    uuid.UUID  `json:"device_id"`
	Role        string     `json:"role"`
	Fingerprint string     `json:"fingerprint"`
	KeyType     string     `json:"key_type"`
	PublicKey   string     `json:"public_key"`
	State       string     `json:"state"`
	FirstSeen   time.Time  `json:"first_seen"`
	ApprovedAt  *time.Time `json:"approved_at"`
	ApprovedBy  *string    `json:"approved_by"`
}

// HostKeyVerdict is the outcome of CheckHostKey.
type HostKeyVerdict int

// Verdicts.
const (
	KeyTrusted HostKeyVerdict = iota
	KeyUnknown
	KeyChanged
)

// OfferedKey is a key presented during an SSH handshake.
type OfferedKey struct {
	DeviceID    uuid.UUID
	Role        string
	Fingerprint string
	KeyType     string
	PublicKey   string // authorized_keys form
}

// CheckHostKey decides whether k is trusted for its device and role, and records what it saw: the first key
// of a trust_first_use device is pinned; otherwise an unknown or changed key is stored as pending and the
// device is blocked with an event (once per new key). A changed key is never accepted here.
func CheckHostKey(ctx context.Context, db TxStarter, k OfferedKey) (HostKeyVerdict, error) {
	verdict := KeyTrusted
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var policy string
		if err := tx.QueryRow(ctx, `SELECT host_key_policy FROM devices WHERE id = $1 FOR UPDATE`, k.DeviceID).Scan(&policy); err != nil {
			return mapErr(err)
		}
		var approved string
		err := tx.QueryRow(ctx, `SELECT fingerprint FROM device_host_keys WHERE device_id = $1 AND role = $2
			AND state = 'approved'`, k.DeviceID, k.Role).Scan(&approved)
		switch {
		case err == nil && approved == k.Fingerprint:
			return nil
		case err == nil:
			verdict = KeyChanged
		case err == pgx.ErrNoRows && policy == PolicyTrustFirstUse:
			_, err := tx.Exec(ctx, `INSERT INTO device_host_keys (device_id, role, fingerprint, key_type, public_key,
				state, approved_at, approved_by) VALUES ($1,$2,$3,$4,$5,'approved',now(),'trust_first_use')
				ON CONFLICT (device_id, role, fingerprint) DO UPDATE SET state = 'approved', approved_at = now(),
				approved_by = 'trust_first_use'`, k.DeviceID, k.Role, k.Fingerprint, k.KeyType, k.PublicKey)
			return err
		case err == pgx.ErrNoRows:
			verdict = KeyUnknown
		default:
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO device_host_keys (device_id, role, fingerprint, key_type, public_key, state)
			VALUES ($1,$2,$3,$4,$5,'pending') ON CONFLICT (device_id, role, fingerprint) DO NOTHING`,
			k.DeviceID, k.Role, k.Fingerprint, k.KeyType, k.PublicKey)
		if err != nil {
			return err
		}
		reason, kind, severity := "host key not approved", EventHostKeyPending, "warning"
		if verdict == KeyChanged {
			reason, kind, severity = "host key changed", EventHostKeyChanged, "critical"
		}
		if k.Role == RoleJump {
			reason = "jump host " + reason
		}
		if _, err := SetDeviceStatus(ctx, tx, k.DeviceID, StatusBlocked, reason, nil); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // this key was already reported
		}
		data, _ := json.Marshal(map[string]string{"fingerprint": k.Fingerprint, "key_type": k.KeyType,
			"role": k.Role, "approved_fingerprint": approved})
		id := k.DeviceID
		return InsertEvent(ctx, tx, &Event{DeviceID: &id, Kind: kind, Severity: severity, Data: data,
			Message: reason + ": offered " + k.KeyType + " " + k.Fingerprint + "; an administrator must approve it"})
	})
	return verdict, err
}

const hostKeyColumns = `device_id, role, fingerprint, key_type, public_key, state, first_seen, approved_at, approved_by`

func scanHostKey(row pgx.Row) (*HostKey, error) {
	var k HostKey
	if err := row.Scan(&k.DeviceID, &k.Role, &k.Fingerprint, &k.KeyType, &k.PublicKey, &k.State, &k.FirstSeen,
		&k.ApprovedAt, &k.ApprovedBy); err != nil {
		return nil, mapErr(err)
	}
	return &k, nil
}

// ListHostKeys returns every key the device and its jump host offered, newest first.
func ListHostKeys(ctx context.Context, db DBTX, id uuid.UUID) ([]*HostKey, error) {
	rows, err := db.Query(ctx, `SELECT `+hostKeyColumns+` FROM device_host_keys WHERE device_id = $1
		ORDER BY first_seen DESC, fingerprint`, id)
	return scanRows(scanHostKey, rows, err)
}

// ErrFingerprintRequired is returned by ApproveHostKey without a fingerprint: a key is only ever trusted by name.
var ErrFingerprintRequired = errors.New("approving a host key needs its fingerprint")

// ApproveHostKey trusts the pending key with fingerprint (ErrNotFound when no such key is pending). There is no
// "approve whatever is pending": it could trust a key offered after the administrator looked (#15). The
// previously approved key of the same role is retired, the device leaves the blocked state and an event records
// who approved what.
func ApproveHostKey(ctx context.Context, db TxStarter, id uuid.UUID, fingerprint, by string) (*HostKey, error) {
	if fingerprint == "" {
		return nil, ErrFingerprintRequired
	}
	var out *HostKey
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		k, err := scanHostKey(tx.QueryRow(ctx, `SELECT `+hostKeyColumns+` FROM device_host_keys
			WHERE device_id = $1 AND state = 'pending' AND fingerprint = $2
			ORDER BY first_seen DESC LIMIT 1 FOR UPDATE`, id, fingerprint))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE device_host_keys SET state = 'retired' WHERE device_id = $1 AND role = $2
			AND state = 'approved'`, id, k.Role); err != nil {
			return err
		}
		if out, err = scanHostKey(tx.QueryRow(ctx, `UPDATE device_host_keys SET state = 'approved', approved_at = now(),
			approved_by = $4 WHERE device_id = $1 AND role = $2 AND fingerprint = $3 RETURNING `+hostKeyColumns,
			id, k.Role, k.Fingerprint, by)); err != nil {
			return err
		}
		// Other keys offered meanwhile stay pending; the device is unblocked only if no key problem remains.
		if _, err := tx.Exec(ctx, `UPDATE devices SET status = 'unknown', status_reason = '' WHERE id = $1
			AND status = 'blocked' AND status_reason LIKE '%host key%'`, id); err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]string{"fingerprint": k.Fingerprint, "role": k.Role, "approved_by": by})
		return InsertEvent(ctx, tx, &Event{DeviceID: &id, Kind: EventHostKeyApproved, Data: data,
			Message: "host key " + k.KeyType + " " + k.Fingerprint + " approved by " + by})
	})
	return out, err
}
