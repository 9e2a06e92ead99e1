package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/infrastructor/infrastructor/workflows"
)

// historyOwners reads every device's poll-loop history and attributes its polls to workers by the identity of
// the workflow task that recorded them (the SDK's default identity starts with the worker's PID). It returns,
// per device, the PID of the worker whose workflow task was the last one completed before killAt (none when
// killAt is zero), and per PID the polls recorded in [t0, t1), a poll being the loop's timer that follows it.
func historyOwners(ctx context.Context, addr string, ids []string, t0, t1, killAt time.Time) (map[string]int, map[int]int64, error) {
	tc, err := client.Dial(client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		return nil, nil, err
	}
	defer tc.Close()
	owners := map[string]int{}
	polls := map[int]int64{}
	for _, id := range ids {
		it := tc.GetWorkflowHistory(ctx, workflows.DevicePollWorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		current := 0 // PID of the worker of the last completed workflow task
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, nil, fmt.Errorf("history of %s: %w", id, err)
			}
			at := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				current = identityPID(ev.GetWorkflowTaskCompletedEventAttributes().GetIdentity())
				if !killAt.IsZero() && at.Before(killAt) {
					owners[id] = current
				}
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				if !at.Before(t0) && at.Before(t1) {
					polls[current]++
				}
			}
		}
	}
	return owners, polls, nil
}

// identityPID is the PID in a Temporal SDK worker identity ("PID@host@..."), or 0.
func identityPID(identity string) int {
	pid, _, _ := strings.Cut(identity, "@")
	n, err := strconv.Atoi(pid)
	if err != nil {
		return 0
	}
	return n
}
