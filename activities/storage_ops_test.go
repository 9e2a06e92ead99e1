package activities

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// scriptedDevice answers zpool commands from the recorded status texts: status prints cur, scrub switches to the
// running scrub, scrub -s records the stop.
type scriptedDevice struct {
	mu      sync.Mutex
	cur     string
	running string
	calls   []string
}

func (d *scriptedDevice) run(_ context.Context, script string) (*sshpool.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, script)
	switch {
	case strings.HasPrefix(script, "zpool status -p "):
		return &sshpool.Result{Stdout: []byte(d.cur)}, nil
	case strings.HasPrefix(script, "zpool scrub -s "):
		return &sshpool.Result{}, nil
	case strings.HasPrefix(script, "zpool scrub "):
		d.cur = d.running
		return &sshpool.Result{}, nil
	}
	return &sshpool.Result{ExitCode: 127}, nil
}

func scrubStates(t *testing.T) (before, running string) {
	running = fixture(t, "zfs", "zpool-status-exporter__zpool-status.input-04-scrub-progress.txt")
	running = running[strings.IndexByte(running, '\n')+1:]
	before = strings.Replace(running, "scrub in progress since Sun Feb 11 11:54:20 2024\n\t704G / 1.66T scanned at 5.67G/s, 0B / 1.66T issued\n\t0B repaired, 0.00% done, no estimated completion time",
		"scrub repaired 0B in 00:10:00 with 0 errors on Sun Feb  4 12:00:00 2024", 1)
	require.NotEqual(t, running, before)
	return before, running
}

// TestZFSScrubKindActsOnceAndStopsOnCancel: a retried Act follows the scrub it started instead of starting another;
// a cancelled Verify stops the scrub with zpool scrub -s.
func TestZFSScrubKindActsOnceAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	before, running := scrubStates(t)
	dev := &scriptedDevice{cur: before, running: running}
	k := ZFSScrubKind{Poll: 10 * time.Millisecond}
	in := DeviceOpInput{Kind: OpKindZFSScrub, Target: "neptune", Action: "scrub"}
	require.NoError(t, k.Validate(in))
	require.Error(t, k.Validate(DeviceOpInput{Target: "neptune;id", Action: "scrub"}))
	require.Error(t, k.Validate(DeviceOpInput{Target: "neptune", Action: "destroy"}))
	var progress []string
	env := &OpEnv{Device: &store.Device{Name: "nas"}, In: in, Run: dev.run,
		Progress: func(_ context.Context, text string) {
			dev.mu.Lock()
			defer dev.mu.Unlock()
			progress = append(progress, text)
		}}
	ctx := context.Background()
	pre, err := k.Precheck(ctx, env)
	require.NoError(t, err)
	require.Contains(t, pre.Before, "ONLINE; scrub repaired 0B")
	env.Before = pre.Before

	act, err := k.Act(ctx, env)
	require.NoError(t, err)
	require.False(t, act.AlreadyDone)
	again, err := k.Act(ctx, env)
	require.NoError(t, err)
	require.True(t, again.AlreadyDone, "a retried act follows the running scrub")
	require.Equal(t, 1, countCalls(dev, "zpool scrub neptune"))

	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			dev.mu.Lock()
			n := len(progress)
			dev.mu.Unlock()
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err = k.Verify(cctx, env)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, countCalls(dev, "zpool scrub -s neptune"), "cancelling stops the scrub")
	require.Contains(t, progress[0], "scrub 0.0% done")
}

func countCalls(d *scriptedDevice, cmd string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if c == cmd {
			n++
		}
	}
	return n
}
