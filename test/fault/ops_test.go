package fault

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

type opStep struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	Detail  string `json:"detail"`
}

type opView struct {
	ID         uuid.UUID `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	State      string    `json:"state"`
	Steps      []opStep  `json:"steps"`
	Error      string    `json:"error"`
	Result     *struct {
		Summary     string `json:"summary"`
		AlreadyDone bool   `json:"already_done"`
	} `json:"result"`
}

func (o opView) step(name string) *opStep {
	for i := range o.Steps {
		if o.Steps[i].Name == name {
			return &o.Steps[i]
		}
	}
	return nil
}

// restart asks for a restart of the container with a grace period and returns the operation, accepted (202).
func (s *stack) restart(dev uuid.UUID, name string, timeout int) opView {
	s.t.Helper()
	var raw map[string]any
	code := s.do("POST", "/api/v1/devices/"+dev.String()+"/containers/"+name+"/actions",
		map[string]any{"action": "restart", "timeout": timeout}, &raw)
	require.Equal(s.t, 202, code, "%v", raw)
	id, err := uuid.Parse(fmt.Sprint(raw["id"]))
	require.NoError(s.t, err, "%v", raw)
	return opView{ID: id, WorkflowID: fmt.Sprint(raw["workflow_id"])}
}

func (s *stack) operation(id uuid.UUID) opView {
	s.t.Helper()
	var o opView
	require.Equal(s.t, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
	return o
}

// waitOp polls the operation until it has finished.
func (s *stack) waitOp(id uuid.UUID, within time.Duration) opView {
	s.t.Helper()
	var o opView
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		o = s.operation(id)
		assert.True(c, store.OpFinal(o.State), "operation still %s: %+v", o.State, o.Steps)
	}, within, 200*time.Millisecond)
	return o
}

// busyLoop keeps a container running; as PID 1, busybox sh ignores SIGTERM, so a stop or restart waits for its
// whole grace period, which leaves time to break things while the engine is restarting it.
const busyLoop = `trap "" TERM; while :; do sleep 1; done`

// runContainer starts a container of the test image on the engine and removes it at cleanup.
func runContainer(t *testing.T, e *testenv.DockerEngine, base string) string {
	t.Helper()
	name := testenv.ContainerName(t, base)
	e.Docker(t, "run", "-d", "--name", name, "--network", "none", testenv.TestImage(t), "sh", "-c", busyLoop)
	t.Cleanup(func() { _, _ = e.TryDocker(nil, "rm", "-f", "-v", name) })
	return name
}

type inspected struct {
	StartedAt    time.Time
	RestartCount int
}

func inspect(t *testing.T, e *testenv.DockerEngine, name string) inspected {
	t.Helper()
	out := e.Docker(t, "inspect", "--type", "container", "--format", "{{.State.StartedAt}}|{{.RestartCount}}", name)
	f := strings.Split(strings.TrimSpace(out), "|")
	require.Len(t, f, 2, out)
	started, err := time.Parse(time.RFC3339Nano, f[0])
	require.NoError(t, err)
	n, err := strconv.Atoi(f[1])
	require.NoError(t, err)
	return inspected{StartedAt: started, RestartCount: n}
}

// requireRestartedOnce checks on the engine that the container was restarted exactly once since `since`: its
// StartedAt moved on, docker's own restart count did not (a manual restart is not counted), and the engine saw
// two starts in the window (docker run's, and the one restart's).
func requireRestartedOnce(t *testing.T, e *testenv.DockerEngine, name string, before inspected, since string) {
	t.Helper()
	after := inspect(t, e, name)
	require.True(t, after.StartedAt.After(before.StartedAt), "the container was not restarted")
	require.Equal(t, before.RestartCount, after.RestartCount)
	require.Equal(t, []string{"start", "start"}, dockerEvents(t, e, name, "start", since),
		"started once by docker run and once by the operation")
	require.Len(t, dockerEvents(t, e, name, "restart", since), 1, "one restart reached the engine")
}
