package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TopProcessesInput asks for a device's top processes. The listing is written to process_snapshots under FetchID
// for the API to read once; only a count comes back, so command lines never enter workflow history.
type TopProcessesInput struct {
	FetchID  string
	DeviceID string
	Sort     string // "cpu" or "memory"
	Limit    int
}

// TopProcessesResult tells how much was fetched.
type TopProcessesResult struct {
	Processes int
	Source    string
}

// ProcessListing is a stored top-processes answer or snapshot, as the API shows it.
type ProcessListing struct {
	Source string `json:"source"`
	// ByCPU and ByMemory hold the processes in each order; an on-request answer fills only the asked one.
	ByCPU     []process.Process `json:"by_cpu,omitempty"`
	ByMemory  []process.Process `json:"by_memory,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
}

// processScript is the fixed listing of one order (see process.FixedScript).
func processScript(s process.Sort) string { return process.FixedScript(s) }

// runScript is how collectors and operations reach a device: one script, its result, classified errors.
type runScript func(ctx context.Context, script string) (*sshpool.Result, error)

// listProcesses runs the listing for one order and parses it, keeping at most limit processes.
func listProcesses(ctx context.Context, run runScript, s process.Sort, limit int) (process.Result, error) {
	res, err := run(ctx, processScript(s))
	if err != nil {
		return process.Result{}, err
	}
	parsed, err := process.Parse(res.Stdout)
	if err != nil {
		return parsed, fmt.Errorf("top processes: %w", err)
	}
	if len(parsed.Processes) > limit {
		parsed.Processes = parsed.Processes[:limit]
	}
	parsed.Truncated = parsed.Truncated || res.Truncated
	return parsed, nil
}

// FetchTopProcesses lists the device's top processes by one order and stores the listing for the API.
func (a *Activities) FetchTopProcesses(ctx context.Context, in TopProcessesInput) (*TopProcessesResult, error) {
	id, err1 := uuid.Parse(in.DeviceID)
	fetchID, err2 := uuid.Parse(in.FetchID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	sort, err := process.ParseSort(in.Sort)
	if err == nil {
		in.Limit, err = process.NormalizeLimit(in.Limit)
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, err
	}
	listing, err := listProcesses(ctx, a.onDemandRunner(dev, "top processes"), sort, in.Limit)
	if err != nil {
		return nil, err
	}
	out := ProcessListing{Source: listing.Source, Truncated: listing.Truncated}
	if sort == process.ByMemory {
		out.ByMemory = listing.Processes
	} else {
		out.ByCPU = listing.Processes
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if err := store.InsertProcessSnapshot(ctx, a.DB, &store.ProcessSnapshot{ID: fetchID, DeviceID: id,
		TakenAt: a.now().UTC(), Requested: true, Body: body}); err != nil {
		return nil, fmt.Errorf("store top processes: %w", err)
	}
	return &TopProcessesResult{Processes: len(listing.Processes), Source: listing.Source}, nil
}

// onDemandRunner runs scripts on dev over the SSH pool, turning a wrapper refusal, a failing script and an SSH
// failure into the activity errors the workflows classify.
func (a *Activities) onDemandRunner(dev *store.Device, what string) runScript {
	return func(ctx context.Context, script string) (*sshpool.Result, error) {
		target, err := TargetOf(dev)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
		res, err := a.SSH.Run(ctx, target, script, nil)
		if err != nil {
			if rerr := wrapperRefusal(dev, what, res); rerr != nil {
				return res, rerr
			}
			if sshpool.KindOf(err) == sshpool.CommandFailed && res != nil {
				return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s on %s failed: %s", what, dev.Name,
					quoteOutput([]byte(firstLine(res.Stderr)))), ErrTypeCommandFailed, nil)
			}
			return res, a.sshFailure(ctx, dev, err)
		}
		return res, nil
	}
}

// processSnapshotLimit is how many processes a collection snapshot keeps in each order.
const processSnapshotLimit = 10

// snapshotProcesses takes the top processes by CPU and by memory and stores them as the device's snapshot.
func snapshotProcesses(ctx context.Context, run runScript, db store.DBTX, dev *store.Device, now time.Time) (*ProcessListing, error) {
	byCPU, err := listProcesses(ctx, run, process.ByCPU, processSnapshotLimit)
	if err != nil {
		return nil, err
	}
	byMem, err := listProcesses(ctx, run, process.ByMemory, processSnapshotLimit)
	if err != nil {
		return nil, err
	}
	out := &ProcessListing{Source: byCPU.Source, ByCPU: byCPU.Processes, ByMemory: byMem.Processes,
		Truncated: byCPU.Truncated || byMem.Truncated}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	// The ID is derived from the device and the collection time, so a retried collection stores one snapshot.
	sid := uuid.NewSHA1(dev.ID, []byte("processes/"+now.UTC().Format(time.RFC3339Nano)))
	if err := store.InsertProcessSnapshot(ctx, db, &store.ProcessSnapshot{ID: sid, DeviceID: dev.ID, TakenAt: now,
		Body: body}); err != nil {
		return nil, fmt.Errorf("store process snapshot: %w", err)
	}
	return out, nil
}
