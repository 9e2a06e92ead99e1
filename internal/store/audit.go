package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditRecord is one entry of the audit log: who changed what, how it went, and the workflow it started.
type AuditRecord struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	TokenID    *uuid.UUID      `json:"token_id"`
	TokenName  string          `json:"token_name"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	Outcome    string          `json:"outcome"`
	StatusCode int             `json:"status_code"`
	WorkflowID *string         `json:"workflow_id"`
	RemoteAddr string          `json:"remote_addr"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

// InsertAudit appends r to the audit log.
func InsertAudit(ctx context.Context, db DBTX, r *AuditRecord) error {
	var detail []byte
	if len(r.Detail) > 0 {
		detail = r.Detail
	}
	return db.QueryRow(ctx, `INSERT INTO audit_log (token_id, token_name, action, target, outcome, status_code,
		workflow_id, remote_addr, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id, time`,
		r.TokenID, r.TokenName, r.Action, r.Target, r.Outcome, r.StatusCode, r.WorkflowID, r.RemoteAddr, detail,
	).Scan(&r.ID, &r.Time)
}

// AuditFilter selects audit records. Before is a cursor: the id of the last record of the previous page.
type AuditFilter struct {
	Action string
	Target string
	Before int64
	Limit  int
}

// ListAudit returns audit records, newest first, and the next cursor (0 on the last page).
func ListAudit(ctx context.Context, db DBTX, f AuditFilter) ([]*AuditRecord, int64, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := db.Query(ctx, `SELECT id, time, token_id, token_name, action, target, outcome,
		coalesce(status_code, 0), workflow_id, remote_addr, detail FROM audit_log
		WHERE ($1 = '' OR action = $1) AND ($2 = '' OR target = $2) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.Action, f.Target, f.Before, f.Limit+1)
	out, err := scanRows(func(row pgx.Row) (*AuditRecord, error) {
		var r AuditRecord
		var detail []byte
		if err := row.Scan(&r.ID, &r.Time, &r.TokenID, &r.TokenName, &r.Action, &r.Target, &r.Outcome,
			&r.StatusCode, &r.WorkflowID, &r.RemoteAddr, &detail); err != nil {
			return nil, err
		}
		if len(detail) > 0 {
			r.Detail = detail
		}
		return &r, nil
	}, rows, err)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}
