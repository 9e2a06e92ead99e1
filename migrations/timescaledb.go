package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TimescaleDB states of a database, as TimescaleDBStatus reports them.
const (
	// TimescaleDBInUse: the time-series tables are hypertables.
	TimescaleDBInUse = "in use"
	// TimescaleDBAvailable: the server has TimescaleDB preloaded but the time-series tables are still
	// range-partitioned (an installation made on plain PostgreSQL); ConvertToTimescaleDB converts them.
	TimescaleDBAvailable = "available, not in use"
	// TimescaleDBUnavailable: plain PostgreSQL (the extension is not installed, or not preloaded).
	TimescaleDBUnavailable = "not available"
)

// TimescaleDBStatus says whether the database uses TimescaleDB, could, or cannot. It needs every migration up to
// 0015 applied.
func TimescaleDBStatus(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var ready, partitioned, hyper bool
	err := db.QueryRow(ctx, `SELECT infra_timescaledb_ready(),
		EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
		        WHERE c.relnamespace = current_schema()::regnamespace AND c.relname LIKE '%\_metrics'),
		EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&ready, &partitioned, &hyper)
	if err != nil {
		return "", fmt.Errorf("timescaledb status: %w", err)
	}
	switch {
	case hyper && !partitioned:
		return TimescaleDBInUse, nil
	case ready && partitioned:
		return TimescaleDBAvailable, nil
	}
	return TimescaleDBUnavailable, nil
}

// ConvertToTimescaleDB is the upgrade of an installation made on plain PostgreSQL once the server has TimescaleDB
// (installed and preloaded): it creates the extension and turns the range-partitioned time-series tables into
// hypertables with compression, keeping every sample (infra_convert_to_hypertables, migration 0015). It runs in
// one transaction, under the migrations' lock, and needs every migration applied first. It returns the tables it
// converted; on an installation that already uses TimescaleDB it converts nothing.
func ConvertToTimescaleDB(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) ([]string, error) {
	list, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lockID)); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", int64(lockID))
	}()
	var migrated bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&migrated); err != nil {
		return nil, err
	}
	if !migrated {
		return nil, errors.New("the database is not migrated: run `infrastructor migrate up` first")
	}
	done, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if _, ok := done[m.Version]; !ok {
			return nil, fmt.Errorf("migration %04d_%s is pending: run `infrastructor migrate up` first", m.Version, m.Name)
		}
	}
	start := time.Now()
	var converted []string
	err = pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT infra_convert_to_hypertables()")
		if err != nil {
			return err
		}
		converted, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("convert to timescaledb, tables left as they were: %w", err)
	}
	log.Info("time-series tables on timescaledb", "converted", converted, "duration", time.Since(start).Round(time.Millisecond))
	return converted, nil
}

// hintTimescaleDB logs, after the migrations, when the server offers TimescaleDB that the tables do not use yet,
// so that the upgrade is not missed. It says nothing when it cannot tell (before migration 0015).
func hintTimescaleDB(ctx context.Context, conn *pgx.Conn, log *slog.Logger) {
	var defined bool
	if err := conn.QueryRow(ctx, "SELECT to_regproc('infra_timescaledb_ready') IS NOT NULL").Scan(&defined); err != nil || !defined {
		return
	}
	if state, err := TimescaleDBStatus(ctx, conn); err == nil && state == TimescaleDBAvailable {
		log.Warn("the PostgreSQL server has TimescaleDB but the time-series tables do not use it yet: " +
			"run `infrastructor migrate timescaledb` to convert them (README, TimescaleDB)")
	}
}
