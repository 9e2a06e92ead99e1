package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The application names the product's processes give their PostgreSQL connections (cmd/infrastructor openDB).
const (
	pgAppWorker = "infrastructor-worker"
	pgAppAPI    = "infrastructor-api"
	// pgAppBench names the bench's own connections (its size and sample queries), so they are not counted as the
	// product's.
	pgAppBench = "infrastructor-bench"
)

// pgBackend is one PostgreSQL backend process: whose it is and the CPU it has used so far.
type pgBackend struct {
	Client string // application_name for a client backend, else the backend type ("autovacuum worker", ...)
	CPU    float64
}

// readPGBackends maps every live PostgreSQL backend's pid to its client and CPU seconds (/proc/<pid>/stat).
// PostgreSQL runs one process per connection, so the CPU of a connection is its backend's.
func readPGBackends(ctx context.Context, db *pgxpool.Pool) (map[int]pgBackend, error) {
	rows, err := db.Query(ctx, `SELECT pid, CASE WHEN backend_type = 'client backend' AND application_name <> ''
		THEN application_name ELSE backend_type END FROM pg_stat_activity`)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	defer rows.Close()
	out := map[int]pgBackend{}
	for rows.Next() {
		var pid int
		var client string
		if err := rows.Scan(&pid, &client); err != nil {
			return nil, err
		}
		if u, err := readProc(pid); err == nil {
			out[pid] = pgBackend{Client: client, CPU: u.CPUSeconds}
		}
	}
	return out, rows.Err()
}

// pgCPUByClient is the CPU each client's backends used between two readings: a backend live at both counts the
// difference, one that started in between all of its CPU (its whole life is inside the window). Backends that
// exited in between are not seen here; their CPU is in the postmaster's reaped-children total, so the sum over
// clients is at most PostgreSQL's total and the rest is reported as unattributed.
func pgCPUByClient(before, after map[int]pgBackend) map[string]float64 {
	out := map[string]float64{}
	for pid, b := range after {
		d := b.CPU
		if a, ok := before[pid]; ok && a.Client == b.Client && a.CPU <= b.CPU {
			d -= a.CPU
		}
		out[b.Client] += d
	}
	return out
}
