package activities_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// sqlLog records what a pool sends: each Query/Exec and each batch is one round trip.
type sqlLog struct {
	mu         sync.Mutex
	on         bool
	roundTrips int
	statements []string
}

func (l *sqlLog) add(sql string, roundTrip bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	if roundTrip {
		l.roundTrips++
	}
	l.statements = append(l.statements, strings.Join(strings.Fields(sql), " "))
}

func (l *sqlLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.add(d.SQL, true)
	return ctx
}
func (l *sqlLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (l *sqlLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	l.add("batch", true)
	return ctx
}
func (l *sqlLog) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.add(d.SQL, false)
}
func (l *sqlLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// record runs f and returns its round trips and the statements that write alert states.
func (l *sqlLog) record(f func()) (roundTrips int, stateWrites []string) {
	l.mu.Lock()
	l.on, l.roundTrips, l.statements = true, 0, nil
	l.mu.Unlock()
	f()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	for _, s := range l.statements {
		if strings.Contains(s, "alert_states") && !strings.HasPrefix(s, "SELECT") {
			stateWrites = append(stateWrites, s)
		}
	}
	return l.roundTrips, stateWrites
}

// TestEvaluateAlertsWritesOnlyChangedStates polls a device with the built-in rules through a sequence of CPU
// readings and checks the SQL each evaluation sends: two read round trips besides the transaction, and a
// state write only when some state changed.
func TestEvaluateAlertsWritesOnlyChangedStates(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testdb.URL(t))
	require.NoError(t, err)
	log := &sqlLog{}
	cfg.ConnConfig.Tracer = log
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: "web", Host: "192.0.2.1", Port: 22, User: "root",
		DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)

	base := time.Now().UTC().Truncate(time.Second)
	now := base
	acts := &activities.Activities{DB: db, Now: func() time.Time { return now }}

	steps := []struct {
		name        string
		cpu         float64
		stateWrites int // statements writing alert_states
	}{
		{"quiet poll", 10, 0},
		{"quiet again", 12, 0},
		{"cpu above warning: pending state inserted", 85, 1},
		{"same reading: state unchanged, not written", 85, 0},
		{"higher reading: value changed", 86, 1},
		{"back to normal: state deleted", 10, 1},
		{"quiet after", 10, 0},
	}
	for i, s := range steps {
		now = base.Add(time.Duration(i) * 30 * time.Second)
		_, err := store.WritePoll(ctx, db, &store.PollWrite{DeviceID: dev.ID, PollKey: s.name, Time: now,
			Metrics: collector.Metrics{Time: now, CPU: &collector.CPUMetrics{UsagePercent: s.cpu},
				Memory:      &collector.MemoryMetrics{TotalBytes: 1000, UsedBytes: 100, UsedPercent: 10},
				Filesystems: []collector.FilesystemMetrics{{Mount: "/", SizeBytes: 100, UsedBytes: 30, AvailBytes: 70}}}})
		require.NoError(t, err, s.name)
		var res *activities.EvaluateAlertsResult
		trips, writes := log.record(func() {
			res, err = acts.EvaluateAlerts(ctx, activities.EvaluateAlertsInput{DeviceID: dev.ID.String(), Collected: now})
		})
		require.NoError(t, err, s.name)
		require.Zero(t, res.Fired, s.name)
		require.Len(t, writes, s.stateWrites, "%s: %v", s.name, writes)
		// BEGIN, the inputs, the samples, the state write when there is one, COMMIT.
		require.Equal(t, 4+s.stateWrites, trips, s.name)
	}

	states, err := store.LoadAlertStates(ctx, db, dev.ID)
	require.NoError(t, err)
	require.Empty(t, states, "every state went back to idle and was deleted")
}
