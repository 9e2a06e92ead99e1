package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// opStack is like startStack, with an SSH command timeout long enough for docker stop/restart grace periods, and
// optionally without an in-process worker (the durability test runs the worker as its own process).
func opStack(t *testing.T, signers []ssh.Signer, withWorker bool) (*stack, string) {
	t.Helper()
	opts := []teststack.Option{teststack.WithSSHTimeouts(5*time.Second, 30*time.Second)}
	if !withWorker {
		opts = append(opts, teststack.WithoutWorker())
	}
	s := startStack(t, signers, opts...)
	return s, s.DBURL
}

type opStep struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	Detail  string `json:"detail"`
}

type opView struct {
	ID         uuid.UUID `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	Target     string    `json:"target"`
	Action     string    `json:"action"`
	State      string    `json:"state"`
	Steps      []opStep  `json:"steps"`
	Error      string    `json:"error"`
	TemporalUI string    `json:"temporal_ui"`
	Result     *struct {
		Summary     string `json:"summary"`
		Noop        bool   `json:"noop"`
		AlreadyDone bool   `json:"already_done"`
		DurationMS  int64  `json:"duration_ms"`
		After       *struct {
			Containers []activities.ContainerSnapshot `json:"containers"`
		} `json:"after"`
	} `json:"result"`
}

func (o opView) stepNames() []string {
	var out []string
	for _, s := range o.Steps {
		out = append(out, s.Name)
	}
	return out
}

func (o opView) step(name string) *opStep {
	for i := range o.Steps {
		if o.Steps[i].Name == name {
			return &o.Steps[i]
		}
	}
	return nil
}

// dockerDevice is a device whose sshd login drives the private Docker engine.
type dockerDevice struct {
	engine *testenv.DockerEngine
	image  string
	sshd   *testenv.SSHD
	id     uuid.UUID
}

func newDockerDevice(t *testing.T, withWorker bool) (*stack, *dockerDevice, string) {
	t.Helper()
	e := testenv.StartDocker(t)
	image := testenv.TestImage(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{e.SetEnv()}})
	s, dbURL := opStack(t, []ssh.Signer{sshd.ClientSigner}, withWorker)
	d := s.createDevice("docker-"+strings.ToLower(uuid.NewString()[:8]), sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	return s, &dockerDevice{engine: e, image: image, sshd: sshd, id: d.ID}, dbURL
}

// container creates (and with run, starts) a container of the test image running script, and removes it at
// cleanup.
func (d *dockerDevice) container(t *testing.T, base string, run bool, script string, extra ...string) string {
	t.Helper()
	name := testenv.ContainerName(t, base)
	verb := "create"
	if run {
		verb = "run"
	}
	args := []string{verb}
	if run {
		args = append(args, "-d")
	}
	args = append(args, "--name", name, "--network", "none")
	args = append(args, extra...)
	args = append(args, d.image, "sh", "-c", script)
	d.engine.Docker(t, args...)
	t.Cleanup(func() { _, _ = d.engine.TryDocker(nil, "rm", "-f", "-v", name) })
	return name
}

// loop keeps a container busy; as PID 1, busybox sh ignores SIGTERM, so stop waits for its timeout.
const loop = `trap "" TERM; while :; do sleep 1; done`

type inspected struct {
	State        string
	ExitCode     int
	StartedAt    time.Time
	RestartCount int
}

func (d *dockerDevice) inspect(t *testing.T, name string) inspected {
	t.Helper()
	out := d.engine.Docker(t, "inspect", "--type", "container", "--format",
		"{{.State.Status}}|{{.State.ExitCode}}|{{.State.StartedAt}}|{{.RestartCount}}", name)
	f := strings.Split(out, "|")
	require.Len(t, f, 4, out)
	code, _ := strconv.Atoi(f[1])
	started, err := time.Parse(time.RFC3339Nano, f[2])
	require.NoError(t, err)
	restarts, _ := strconv.Atoi(f[3])
	return inspected{State: f[0], ExitCode: code, StartedAt: started, RestartCount: restarts}
}

// act posts an action and returns the status code and the operation (or the error envelope's message).
func (s *stack) act(dev uuid.UUID, ref string, body map[string]any, wait string) (int, opView, string) {
	s.t.Helper()
	path := "/api/v1/devices/" + dev.String() + "/containers/" + ref + "/actions"
	if wait != "" {
		path += "?wait=" + wait
	}
	var raw map[string]any
	code := s.do("POST", path, body, &raw)
	return code, decodeOp(s.t, raw), errMessage(raw)
}

func decodeOp(t *testing.T, raw map[string]any) opView {
	t.Helper()
	var o opView
	if _, isErr := raw["error"].(map[string]any); isErr {
		return o
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &o))
	return o
}

func errMessage(raw map[string]any) string {
	if e, ok := raw["error"].(map[string]any); ok {
		return fmt.Sprint(e["message"], " ", e["fields"])
	}
	return ""
}

// waitOp polls the operation until it has finished.
func (s *stack) waitOp(id uuid.UUID, within time.Duration) opView {
	s.t.Helper()
	var o opView
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		o = opView{}
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		require.True(c, store.OpFinal(o.State), "operation still %s", o.State)
	}, within, 100*time.Millisecond)
	return o
}

func TestContainerOperations(t *testing.T) {
	s, d, _ := newDockerDevice(t, true)
	dev := d.id

	t.Run("validation names the field", func(t *testing.T) {
		tests := []struct {
			ref   string
			body  map[string]any
			field string
		}{
			{"bad%3Brm", map[string]any{"action": "stop"}, "ref"},
			{"-rf", map[string]any{"action": "stop"}, "ref"},
			{"web", map[string]any{"action": "explode"}, "action"},
			{"web", map[string]any{}, "action"},
			{"web", map[string]any{"action": "stop", "timeout": 99999}, "timeout"},
			{"web", map[string]any{"action": "kill", "signal": "NOPE"}, "signal"},
			{"web", map[string]any{"action": "start", "signal": "TERM"}, "signal"},
			{"web", map[string]any{"action": "stop", "extra": 1}, "extra"},
		}
		for _, tc := range tests {
			var raw map[string]any
			code := s.do("POST", "/api/v1/devices/"+dev.String()+"/containers/"+tc.ref+"/actions", tc.body, &raw)
			require.Equal(t, 422, code, "%s %v: %v", tc.ref, tc.body, raw)
			fields, _ := raw["error"].(map[string]any)["fields"].(map[string]any)
			require.Contains(t, fields, tc.field, "%v", raw)
		}
		code, _, _ := s.act(dev, "web", map[string]any{"action": "stop"}, "10m")
		require.Equal(t, 422, code, "wait is bounded")
		code, _, _ = s.act(uuid.New(), "web", map[string]any{"action": "stop"}, "")
		require.Equal(t, 404, code)
	})

	t.Run("every action on real containers", func(t *testing.T) {
		busy := d.container(t, "busy", true, loop)
		created := d.container(t, "created", false, loop)
		exits := d.container(t, "exits", false, "exit 3")
		crashloop := d.container(t, "crashloop", true, "exit 3", "--restart", "always")
		doomed := d.container(t, "doomed", true, loop)

		type check func(t *testing.T, o opView)
		succeeded := func(state string) check {
			return func(t *testing.T, o opView) {
				require.Equal(t, store.OpSucceeded, o.State, "error: %s", o.Error)
				require.Equal(t, []string{"precheck", "act", "verify", "record"}, o.stepNames())
				require.NotNil(t, o.Result)
				if state != "" {
					require.Equal(t, state, string(o.Result.After.Containers[0].State))
				}
			}
		}
		failed := func(pattern string) check {
			return func(t *testing.T, o opView) {
				require.Equal(t, store.OpFailed, o.State)
				require.Regexp(t, regexp.MustCompile(pattern), o.Error)
			}
		}
		tests := []struct {
			name  string
			ref   string
			body  map[string]any
			check check
		}{
			{"start a created container", created, map[string]any{"action": "start"}, succeeded("running")},
			{"start a running container does nothing", created, map[string]any{"action": "start"}, func(t *testing.T, o opView) {
				require.Equal(t, store.OpSucceeded, o.State)
				require.True(t, o.Result.Noop)
				require.Equal(t, []string{"precheck", "record"}, o.stepNames())
			}},
			{"restart keeps the restart count", busy, map[string]any{"action": "restart", "timeout": 1}, succeeded("running")},
			{"pause", busy, map[string]any{"action": "pause"}, succeeded("paused")},
			{"pause a paused container does nothing", busy, map[string]any{"action": "pause"}, func(t *testing.T, o opView) {
				require.True(t, o.Result.Noop)
			}},
			{"restart a paused container is refused", busy, map[string]any{"action": "restart"}, failed(`paused: unpause it`)},
			{"unpause", busy, map[string]any{"action": "unpause"}, succeeded("running")},
			{"stop ignoring TERM waits for the timeout, then kills", busy, map[string]any{"action": "stop", "timeout": 1}, func(t *testing.T, o opView) {
				succeeded("exited")(t, o)
				require.Equal(t, 137, o.Result.After.Containers[0].ExitCode)
				require.GreaterOrEqual(t, o.Result.DurationMS, int64(1000))
			}},
			{"stop on a stopped container succeeds without acting", busy, map[string]any{"action": "stop"}, func(t *testing.T, o opView) {
				require.Equal(t, store.OpSucceeded, o.State)
				require.True(t, o.Result.Noop)
				require.Contains(t, o.Result.Summary, "already stopped")
			}},
			{"pause a stopped container is refused", busy, map[string]any{"action": "pause"}, failed(`only a running container can be paused`)},
			{"kill", created, map[string]any{"action": "kill", "signal": "KILL"}, func(t *testing.T, o opView) {
				succeeded("exited")(t, o)
				require.Equal(t, 137, o.Result.After.Containers[0].ExitCode)
			}},
			{"a container that exits right after start", exits, map[string]any{"action": "start"}, failed(`exited with code 3 right after start`)},
			{"a restart loop is reported", crashloop, map[string]any{"action": "restart", "timeout": 1}, failed(`restart loop|exited with code 3`)},
			{"remove a running container needs force", doomed, map[string]any{"action": "remove"}, failed(`remove with force`)},
			{"remove with force", doomed, map[string]any{"action": "remove", "force": true, "volumes": true}, func(t *testing.T, o opView) {
				require.Equal(t, store.OpSucceeded, o.State, o.Error)
				require.Empty(t, o.Result.After.Containers)
			}},
			{"an unknown container", "no-such-container", map[string]any{"action": "restart"}, failed(`not found`)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var before inspected
				if tc.body["action"] == "restart" && tc.ref == busy {
					before = d.inspect(t, busy)
				}
				code, o, msg := s.act(dev, tc.ref, tc.body, "30s")
				require.Equal(t, 200, code, "the operation finishes within the wait: %s", msg)
				require.Equal(t, tc.body["action"], o.Action)
				require.Contains(t, o.TemporalUI, "/workflows/"+o.WorkflowID)
				tc.check(t, o)
				if !before.StartedAt.IsZero() && o.State == store.OpSucceeded {
					after := d.inspect(t, busy)
					require.True(t, after.StartedAt.After(before.StartedAt))
					require.Equal(t, before.RestartCount, after.RestartCount, "a manual restart is not counted by docker")
				}
			})
		}
		_, err := d.engine.TryDocker(nil, "inspect", "--type", "container", doomed)
		require.Error(t, err, "the removed container is gone")
	})

	t.Run("one operation per container, 202 then Location, cancel", func(t *testing.T) {
		slow := d.container(t, "slow", true, loop)
		code, first, msg := s.act(dev, slow, map[string]any{"action": "stop", "timeout": 5}, "")
		require.Equal(t, 202, code, msg)
		require.Contains(t, []string{store.OpPending, store.OpRunning}, first.State)

		code, _, msg = s.act(dev, slow, map[string]any{"action": "restart"}, "")
		require.Equal(t, 409, code)
		require.Contains(t, msg, first.ID.String(), "the conflict names the running operation")
		require.Contains(t, msg, first.WorkflowID)

		// Cancel while the stop waits for its grace period.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var o opView
			require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+first.ID.String(), nil, &o))
			st := o.step("act")
			require.NotNil(c, st)
		}, 20*time.Second, 50*time.Millisecond)
		require.Equal(t, 202, s.do("POST", "/api/v1/operations/"+first.ID.String()+"/cancel", nil, nil))
		done := s.waitOp(first.ID, 30*time.Second)
		require.Equal(t, store.OpCancelled, done.State)
		require.Equal(t, 409, s.do("POST", "/api/v1/operations/"+first.ID.String()+"/cancel", nil, nil), "a finished operation cannot be cancelled")

		// Once the first closed, the container takes a new operation. The operation is recorded as cancelled
		// by the workflow's last step, a moment before the workflow itself closes: until then a new one conflicts.
		var next opView
		require.Eventually(t, func() bool {
			code, next, msg = s.act(dev, slow, map[string]any{"action": "kill"}, "30s")
			return code != 409
		}, 20*time.Second, 200*time.Millisecond, "the container never took a new operation")
		require.Equal(t, 200, code, msg)
		require.Equal(t, store.OpSucceeded, next.State, next.Error)

		var list struct {
			Items []opView `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/operations?device_id="+dev.String()+"&state=cancelled", nil, &list))
		require.Len(t, list.Items, 1)
		require.Equal(t, first.ID, list.Items[0].ID)

		var audit struct {
			Items []struct {
				Action     string  `json:"action"`
				WorkflowID *string `json:"workflow_id"`
				StatusCode int     `json:"status_code"`
			} `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/audit?action=container.stop", nil, &audit))
		require.NotEmpty(t, audit.Items)
		require.NotNil(t, audit.Items[0].WorkflowID)
		require.Equal(t, first.WorkflowID, *audit.Items[0].WorkflowID)
	})

	t.Run("compose project", func(t *testing.T) {
		if _, err := exec.LookPath("docker-compose"); err != nil {
			t.Skip("docker-compose (v1) not installed and the compose v2 plugin is absent: apt-get install -y docker-compose")
		}
		project := "p" + strings.ToLower(uuid.NewString()[:8])
		dir, err := os.MkdirTemp("", "compose-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(fmt.Sprintf(`version: "2.4"
services:
  web:
    image: %s
    command: ["sh", "-c", %q]
    network_mode: none
  worker:
    image: %s
    command: ["sh", "-c", %q]
    network_mode: none
`, d.image, loop, d.image, loop)), 0o644))
		// Create the project as a user would, so its containers carry compose's own labels.
		cmd := exec.Command("docker-compose", "-p", project, "up", "--detach")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.engine.Host)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Cleanup(func() {
			c := exec.Command("docker-compose", "-p", project, "down", "-t", "0")
			c.Dir, c.Env = dir, cmd.Env
			_ = c.Run()
		})
		compose := func(action string) (int, opView, string) {
			var raw map[string]any
			code := s.do("POST", "/api/v1/devices/"+dev.String()+"/compose/"+project+"/actions?wait=60s", map[string]any{"action": action}, &raw)
			return code, decodeOp(t, raw), errMessage(raw)
		}

		// The working directory comes from a label any image can set: nothing runs in it until an admin has
		// confirmed what the label says (#15). A poll stores the labels first.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Equal(c, 200, s.do("POST", "/api/v1/devices/"+dev.String()+"/poll", nil, nil))
			require.Len(c, s.containers("/api/v1/devices/"+dev.String()+"/containers?project="+project), 2)
		}, 60*time.Second, 500*time.Millisecond)
		code, _, msg := compose("up")
		require.Equal(t, 409, code, msg)
		require.Contains(t, msg, dir)
		require.Equal(t, 200, s.do("POST", "/api/v1/devices/"+dev.String()+"/compose/"+project+"/confirm", map[string]any{"working_dir": dir}, nil))

		code, o, msg := compose("up")
		require.Equal(t, 200, code, msg)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)
		require.Equal(t, "compose:"+project, o.Target)
		require.Len(t, o.Result.After.Containers, 2)

		code, o, msg = compose("restart")
		require.Equal(t, 200, code, msg)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)

		// There is no registry here: pull fails, and the operation says why instead of hanging or lying.
		code, o, msg = compose("pull")
		require.Equal(t, 200, code, msg)
		require.Equal(t, store.OpFailed, o.State)
		require.Contains(t, o.Error, "compose pull of "+project)

		code, o, msg = compose("down")
		require.Equal(t, 200, code, msg)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)
		require.Empty(t, o.Result.After.Containers)
		require.Empty(t, d.engine.Docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+project))

		code, o, _ = compose("down")
		require.Equal(t, 200, code)
		require.True(t, o.Result.Noop, "down of a project without containers does nothing")

		var raw map[string]any
		require.Equal(t, 422, s.do("POST", "/api/v1/devices/"+dev.String()+"/compose/Bad_Project/actions", map[string]any{"action": "up"}, &raw))
		require.Equal(t, 422, s.do("POST", "/api/v1/devices/"+dev.String()+"/compose/"+project+"/actions", map[string]any{"action": "kill"}, &raw))
	})
}

// TestContainerRestartSurvivesWorkerCrash kills the worker process (kill -9) while a restart's act step runs and
// starts a new one: the operation completes and the container was restarted exactly once.
func TestContainerRestartSurvivesWorkerCrash(t *testing.T) {
	s, d, _ := newDockerDevice(t, false)
	workers := s.WorkerProcesses(t, d.sshd.ClientKeyPath)

	sinceUnix := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	name := d.container(t, "durable", true, loop)
	before := d.inspect(t, name)

	first := workers.Start()
	code, op, msg := s.act(d.id, name, map[string]any{"action": "restart", "timeout": 3}, "")
	require.Equal(t, 202, code, msg)

	// Kill the worker once the act step's restart has reached the engine: docker is then stopping the container,
	// which ignores SIGTERM and so takes the whole 3 s grace period.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var o opView
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+op.ID.String(), nil, &o))
		st := o.step("act")
		require.NotNil(c, st, "act has not started: %v", o.stepNames())
		require.Equal(c, store.StepRunning, st.State)
		// docker stop's SIGTERM shows the restart has reached the engine.
		kills, err := d.engine.TryDocker(nil, "events", "--since", sinceUnix, "--until", strconv.FormatInt(time.Now().Unix(), 10),
			"--filter", "container="+name, "--filter", "event=kill", "--format", "{{.Status}}")
		require.NoError(c, err)
		require.NotEmpty(c, kills, "the restart has not reached the engine yet")
	}, 60*time.Second, 20*time.Millisecond)
	first.Kill()

	workers.Start()
	done := s.waitOp(op.ID, 90*time.Second)
	require.Equal(t, store.OpSucceeded, done.State, "error: %s", done.Error)
	act := done.step("act")
	require.NotNil(t, act)
	require.GreaterOrEqual(t, act.Attempt, 2, "the act step ran again on the new worker")
	require.True(t, done.Result.AlreadyDone, "the retry saw the first attempt's restart and did not act again")

	after := d.inspect(t, name)
	require.True(t, after.StartedAt.After(before.StartedAt), "the container was restarted")
	require.Equal(t, before.RestartCount, after.RestartCount)
	starts := d.engine.Docker(t, "events", "--since", sinceUnix, "--until", strconv.FormatInt(time.Now().Unix(), 10),
		"--filter", "container="+name, "--filter", "event=start", "--format", "{{.Status}}")
	// The window also holds the container's first start (docker run), so exactly one restart is two starts.
	require.Equal(t, []string{"start", "start"}, strings.Fields(starts), "the container was started once by docker run and once by the restart")
}
