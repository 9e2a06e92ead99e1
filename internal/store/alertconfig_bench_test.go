package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// backendCPU is the CPU seconds (user + system) PostgreSQL's backend pid has used so far.
func backendCPU(b *testing.B, pid uint32) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err, "the backend must run on this host")
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// BenchmarkLoadAlertInputs is one evaluation's input reads in their own transaction, uncached and through the
// cache, on one connection whose backend's CPU is reported per read (pg-µs/op) next to the client's time:
//
//	go test -run '^$' -bench LoadAlertInputs -benchtime 3000x ./internal/store/
func BenchmarkLoadAlertInputs(b *testing.B) {
	ctx := context.Background()
	db := testdb.Pool(b)
	d, err := store.CreateDevice(ctx, db, &store.Device{Name: "bench", Host: "192.0.2.1", Port: 22, User: "root",
		DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(b, err)
	for i := range 3 {
		_, err := store.CreateChannel(ctx, db, &store.Channel{Name: fmt.Sprintf("ops%d", i), Type: "webhook",
			URL: "http://127.0.0.1:1/hook", MinSeverity: alert.SeverityWarning, Enabled: true, RatePerMinute: 10})
		require.NoError(b, err)
	}
	conn, err := db.Acquire(ctx)
	require.NoError(b, err)
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	for _, cached := range []bool{false, true} {
		b.Run(map[bool]string{false: "uncached", true: "cached"}[cached], func(b *testing.B) {
			var cache *store.AlertConfigCache
			if cached {
				cache = &store.AlertConfigCache{}
			}
			now := time.Now()
			cpu0 := backendCPU(b, pid)
			b.ResetTimer()
			for range b.N {
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					_, err := store.LoadAlertInputsCached(ctx, tx, cache, d.ID, now.Add(-time.Hour), now)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((backendCPU(b, pid)-cpu0)/float64(b.N)*1e6, "pg-µs/op")
		})
	}
}
