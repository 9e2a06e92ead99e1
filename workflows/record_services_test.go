package workflows_test

import (
	"context"
	"testing"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// recordTopProcesses records an on-request process listing: one activity whose result is a count, never a
// command line.
func recordTopProcesses(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"FetchTopProcesses": func(context.Context, []any) (any, error) {
			return activities.TopProcessesResult{Processes: 10, Source: "procps"}, nil
		},
	})
	r.run(path, "top-processes/replay", workflows.TopProcessesWorkflowName,
		activities.TopProcessesInput{FetchID: "f1", DeviceID: recDevice, Sort: "cpu", Limit: 10}, false)
}

func init() { stubbedActivities = append(stubbedActivities, "FetchTopProcesses") }
