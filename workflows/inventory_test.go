package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/workflows"
)

// collection is one CollectInventory call seen by the fake device.
type collection struct {
	At    time.Duration
	Force bool
}

func (d *fakeDevice) collectInventory(_ context.Context, in activities.CollectInventoryInput) (*activities.CollectInventoryResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if in.DeviceID != deviceID {
		return nil, errors.New("collection of another device")
	}
	d.collections = append(d.collections, collection{At: d.env.Now().Sub(start), Force: in.Force})
	return &activities.CollectInventoryResult{Summary: "2 drives"}, nil
}

func (d *fakeDevice) collected() []collection {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]collection(nil), d.collections...)
}

// The slow-cadence collection runs after the first successful poll, then every inventory interval (the default
// until a poll reports the device's own), never while polls fail, and at once, forced, after a poll-now; the
// polls keep their schedule meanwhile.
func TestDevicePollCollectsInventory(t *testing.T) {
	env, dev := harness(t)
	// Polls 1-40 at 30 s succeed (0 .. 19m30s); 41 and 42 fail (20m, 20m30s); then they succeed again.
	dev.answer = func(n int) error {
		if n == 41 || n == 42 {
			return errors.New("link down")
		}
		return nil
	}
	at(env, 25*time.Minute+10*time.Second, func() {
		st := status(t, env)
		require.Equal(t, "2 drives", st.LastInventory)
		require.Equal(t, start.Add(21*time.Minute), st.LastInventoryAt.UTC())
	})
	// From here on the device asks for 2-minute collections.
	at(env, 25*time.Minute+15*time.Second, func() { dev.mu.Lock(); dev.inventoryInterval = 2 * time.Minute; dev.mu.Unlock() })
	at(env, 29*time.Minute+40*time.Second, func() {
		env.UpdateWorkflow(workflows.UpdatePollNow, "poll-now-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("poll-now rejected: %v", err) },
			OnComplete: func(any, error) {},
		})
	})
	stopAt(env, 31*time.Minute+50*time.Second)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	require.Equal(t, []collection{
		{At: 0},
		{At: 10 * time.Minute},
		// Due at 20m, but the polls at 20m and 20m30s fail: the first good poll after them collects.
		{At: 21 * time.Minute},
		// The poll at 25m30s reports the 2-minute interval: more than that has passed since the last collection.
		{At: 25*time.Minute + 30*time.Second},
		{At: 27*time.Minute + 30*time.Second},
		{At: 29*time.Minute + 30*time.Second},
		// A poll-now collects again at once, however recent the last collection.
		{At: 29*time.Minute + 40*time.Second, Force: true},
		{At: 31*time.Minute + 40*time.Second},
	}, dev.collected())
	// The collections did not move a poll: until the poll-now every poll is on the 30 s grid, after it on the
	// poll-now's.
	polls := dev.pollTimes()
	require.Len(t, polls, 60+5) // 0 .. 29m30s, the poll-now, then four more
	for _, p := range polls {
		if p < 29*time.Minute+40*time.Second {
			require.Zero(t, p%(30*time.Second), "poll at %s", p)
		} else {
			require.Zero(t, (p-10*time.Second)%(30*time.Second), "poll at %s", p)
		}
	}
}
