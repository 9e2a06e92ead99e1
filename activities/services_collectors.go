package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/sshpool"
)

// servicesCollector reads failed units and the state of watched units at every inventory collection (#12).
type servicesCollector struct{}

func (servicesCollector) Name() string         { return "services" }
func (servicesCollector) Every() time.Duration { return 0 }

func (servicesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	res, err := collectServices(ctx, scriptOK(env.Run, "systemctl"), env.DB, env.Device, env.Now)
	if err != nil {
		return nil, err
	}
	return &InventoryOutcome{Summary: servicesSummary(res), Checks: serviceChecks(res)}, nil
}

// processesCollector stores a snapshot of the top processes by CPU and by memory at every inventory collection.
type processesCollector struct{}

func (processesCollector) Name() string         { return "processes" }
func (processesCollector) Every() time.Duration { return 0 }

func (processesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	l, err := snapshotProcesses(ctx, scriptOK(env.Run, "process listing"), env.DB, env.Device, env.Now)
	if err != nil {
		return nil, err
	}
	return &InventoryOutcome{Summary: fmt.Sprintf("top processes from %s (%d by CPU, %d by memory)", l.Source,
		len(l.ByCPU), len(l.ByMemory))}, nil
}

// scriptOK wraps an inventory runner, which returns scripts that ran whatever their exit status, for scripts that
// always exit 0 when they work: any other status is an error naming what failed and its first line of stderr.
func scriptOK(run runScript, what string) runScript {
	return func(ctx context.Context, script string) (*sshpool.Result, error) {
		res, err := run(ctx, script)
		if err != nil {
			return nil, err
		}
		if res.ExitCode != 0 {
			return nil, fmt.Errorf("%s exited with status %d: %s", what, res.ExitCode, quoteOutput([]byte(firstLine(res.Stderr))))
		}
		return res, nil
	}
}
