package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// The histories of the log workflows (#12).
func init() {
	stubbedActivities = append(stubbedActivities, "SearchSystemLogs", "TailLogs")
	recordedHistories = append(recordedHistories,
		struct {
			files  []string
			record func(t *testing.T, paths ...string)
		}{[]string{"systemlogs.json"}, func(t *testing.T, p ...string) { recordSystemLogs(t, p[0]) }},
		struct {
			files  []string
			record func(t *testing.T, paths ...string)
		}{[]string{"logtail.json"}, func(t *testing.T, p ...string) { recordLogTail(t, p[0]) }},
	)
}

func recordSystemLogs(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"SearchSystemLogs": func(context.Context, []any) (any, error) {
			return activities.SystemLogsResult{Source: journal.SourceJournald, Entries: 2}, nil
		},
	})
	r.run(path, "system-logs/replay", workflows.SystemLogsWorkflowName,
		activities.SystemLogsInput{FetchID: "f1", DeviceID: recDevice, Query: journal.Query{Unit: "nginx", Priority: "err"}}, false)
}

// recordLogTail runs a tail whose activity returns when its watchers left.
func recordLogTail(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"TailLogs": func(context.Context, []any) (any, error) { return nil, nil },
	})
	topic := "device." + recDevice + ".containers.web.logs"
	r.run(path, workflows.LogTailWorkflowID(recDevice, topic), workflows.LogTailWorkflowName,
		activities.LogTailInput{SourceID: workflows.LogTailWorkflowID(recDevice, topic), DeviceID: recDevice, Topic: topic,
			Container: "web", IdleAfter: 30 * time.Second}, false)
}
