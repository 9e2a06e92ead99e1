package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// BaselineOptions configures the direct poll loop.
type BaselineOptions struct {
	DatabaseURL string
	KeyFile     string
	Interval    time.Duration
	// Warmup runs before the measured window (connections are dialled and pinned during it).
	Warmup   time.Duration
	Duration time.Duration
	// PostgresPID, when set, is the postmaster whose process tree's CPU is measured over the window.
	PostgresPID int
}

// BaselineResult is what the direct loop measured over its window.
type BaselineResult struct {
	Devices       int       `json:"devices"`
	Polls         int64     `json:"polls"`
	TotalPolls    int64     `json:"total_polls"` // including the warm-up
	Errors        int64     `json:"errors"`
	CPUSeconds    float64   `json:"cpu_seconds"`
	WindowSeconds float64   `json:"window_seconds"`
	Lateness      []float64 `json:"lateness_seconds"`
	FirstError    string    `json:"first_error,omitempty"`
	// PostgresCPUSeconds is the postmaster's process tree's CPU over the window (with PostgresPID).
	PostgresCPUSeconds float64 `json:"postgres_cpu_seconds"`
	// RelationBytes and WALBytes are the growth of the product's tables (with indexes) and the WAL generated
	// over the window.
	RelationBytes int64 `json:"relation_bytes"`
	WALBytes      int64 `json:"wal_bytes"`
}

// RunBaseline polls every enabled device on a fixed schedule with the product's own poll function and nothing
// else: no Temporal, no workflow, no activity framework. Its CPU per poll is the floor the orchestrated poll is
// compared with.
func RunBaseline(ctx context.Context, o BaselineOptions) (*BaselineResult, error) {
	db, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	enabled := true
	var devices []*store.Device
	f := store.DeviceFilter{Enabled: &enabled, Limit: 1000}
	for {
		page, next, err := store.ListDevices(ctx, db, f)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		devices = append(devices, page...)
		if next == "" {
			break
		}
		f.After = next
	}
	signers, err := sshpool.LoadSigners(o.KeyFile)
	if err != nil {
		return nil, err
	}
	pool, err := sshpool.New(sshpool.Config{Signers: signers, HostKeys: &activities.HostKeys{DB: db}})
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	res := &BaselineResult{Devices: len(devices)}
	var polls, errs, total atomic.Int64
	var mu sync.Mutex
	measuring := atomic.Bool{}
	begin := time.Now()
	windowStart := begin.Add(o.Warmup)
	windowEnd := windowStart.Add(o.Duration)
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the devices over one interval, as the product's loops are when devices are added over time.
			next := begin.Add(time.Duration(i) * o.Interval / time.Duration(len(devices)))
			for n := 1; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				if next.After(windowEnd) {
					return
				}
				err := basePoll(ctx, db, pool, d, "baseline/"+strconv.Itoa(n))
				if err == nil {
					total.Add(1)
				}
				if measuring.Load() {
					if err != nil {
						errs.Add(1)
						mu.Lock()
						if res.FirstError == "" {
							res.FirstError = err.Error()
						}
						mu.Unlock()
					} else {
						polls.Add(1)
						mu.Lock()
						res.Lateness = append(res.Lateness, time.Since(next).Seconds())
						mu.Unlock()
					}
				}
				next = next.Add(o.Interval)
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(windowStart)):
	}
	cpu0, pg0 := selfCPU(), pgCPU(o.PostgresPID)
	db0, err := readDBBytes(ctx, db)
	if err != nil {
		return nil, err
	}
	measuring.Store(true)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(windowEnd)):
	}
	measuring.Store(false)
	res.CPUSeconds = selfCPU() - cpu0
	res.PostgresCPUSeconds = pgCPU(o.PostgresPID) - pg0
	db1, err := readDBBytes(ctx, db)
	if err != nil {
		return nil, err
	}
	res.RelationBytes, res.WALBytes = db1.Relations-db0.Relations, db1.WAL-db0.WAL
	res.WindowSeconds = time.Since(windowStart).Seconds()
	res.Polls, res.Errors = polls.Load(), errs.Load()
	wg.Wait()
	res.TotalPolls = total.Load()
	return res, nil
}

// basePoll calls the product's poll function (activities.PollDevice: pooled SSH, the collector script and
// parsers, the container inventory, the store's COPY write) directly, as a plain function: everything a poll
// does except the Temporal workflow, activity task and timer around it.
func basePoll(ctx context.Context, db *pgxpool.Pool, pool *sshpool.Pool, d *store.Device, key string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	a := &activities.Activities{DB: db, SSH: pool, Log: slog.New(slog.DiscardHandler)}
	_, err := a.PollDevice(ctx, activities.PollDeviceInput{DeviceID: d.ID.String(), PollKey: key + "/" + uuid.NewString()})
	if err != nil {
		return fmt.Errorf("poll %s: %w", d.Name, err)
	}
	return nil
}

// pgCPU is the CPU of PostgreSQL's process tree, 0 when pid is not set or not readable.
func pgCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	v, _ := treeCPU(pid)
	return v
}

// selfCPU is this process's user + system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
