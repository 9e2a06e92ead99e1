package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
)

// StateKey identifies one evaluated subject of a device.
type StateKey struct {
	RuleID  uuid.UUID
	Subject string
}

// LoadAlertStates returns the evaluator states of a device, locked for update when db is a transaction.
func LoadAlertStates(ctx context.Context, db DBTX, deviceID uuid.UUID) (map[StateKey]alert.State, error) {
	rows, err := db.Query(ctx, `SELECT rule_id, subject, state FROM alert_states WHERE device_id = $1 FOR UPDATE`, deviceID)
	return scanStates(rows, err)
}

func scanStates(rows pgx.Rows, qerr error) (map[StateKey]alert.State, error) {
	if qerr != nil {
		return nil, qerr
	}
	defer rows.Close()
	out := map[StateKey]alert.State{}
	for rows.Next() {
		var k StateKey
		var raw []byte
		var s alert.State
		if err := rows.Scan(&k.RuleID, &k.Subject, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("alert state %s/%s: %w", k.RuleID, k.Subject, err)
		}
		out[k] = s
	}
	return out, rows.Err()
}

// SaveAlertState stores a subject's state, or deletes it when it is idle.
func SaveAlertState(ctx context.Context, db DBTX, deviceID uuid.UUID, k StateKey, s alert.State) error {
	return SaveAlertStates(ctx, db, deviceID, map[StateKey]alert.State{k: s})
}

// SaveAlertStates stores the given states of a device in at most two statements: one upsert of every state
// that carries something, one delete of every idle one. Callers pass only the states that changed, so a poll
// that changes nothing issues no SQL.
func SaveAlertStates(ctx context.Context, db DBTX, deviceID uuid.UUID, states map[StateKey]alert.State) error {
	var putRules, delRules []uuid.UUID
	var putSubjects, putStates, delSubjects []string
	for k, s := range states {
		if s.Idle() {
			delRules, delSubjects = append(delRules, k.RuleID), append(delSubjects, k.Subject)
			continue
		}
		raw, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode alert state %s/%s: %w", k.RuleID, k.Subject, err)
		}
		putRules, putSubjects, putStates = append(putRules, k.RuleID), append(putSubjects, k.Subject), append(putStates, string(raw))
	}
	if len(delRules) > 0 {
		if _, err := db.Exec(ctx, `DELETE FROM alert_states s USING unnest($2::uuid[], $3::text[]) AS d(rule_id, subject)
			WHERE s.device_id = $1 AND s.rule_id = d.rule_id AND s.subject = d.subject`,
			deviceID, delRules, delSubjects); err != nil {
			return fmt.Errorf("delete alert states of %s: %w", deviceID, mapErr(err))
		}
	}
	if len(putRules) > 0 {
		if _, err := db.Exec(ctx, `INSERT INTO alert_states (rule_id, device_id, subject, state)
			SELECT u.rule_id, $1, u.subject, u.state::jsonb FROM unnest($2::uuid[], $3::text[], $4::text[])
				AS u(rule_id, subject, state)
			ON CONFLICT (rule_id, device_id, subject) DO UPDATE SET state = excluded.state, updated_at = now()`,
			deviceID, putRules, putSubjects, putStates); err != nil {
			return fmt.Errorf("save alert states of %s: %w", deviceID, mapErr(err))
		}
	}
	return nil
}
