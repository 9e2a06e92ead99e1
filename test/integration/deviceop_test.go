package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// unameCollector is an inventory collector that reads the device's kernel name over SSH.
type unameCollector struct{ runs atomic.Int32 }

func (c *unameCollector) Name() string         { return "kernel" }
func (c *unameCollector) Every() time.Duration { return 0 }
func (c *unameCollector) Collect(ctx context.Context, env *activities.InventoryEnv) (*activities.InventoryOutcome, error) {
	res, err := env.Run(ctx, "uname -s")
	if err != nil {
		return nil, err
	}
	c.runs.Add(1)
	return &activities.InventoryOutcome{Summary: "kernel " + strings.TrimSpace(string(res.Stdout))}, nil
}

// jobKind is a device operation on a job marked by files in dir on the device: act starts it (a .started file),
// verify follows it with progress until the test marks it done (a .done file); a cancelled verify marks it
// stopped (a .stopped file), as a scrub's `zpool scrub -s` would.
type jobKind struct{ dir string }

var jobName = regexp.MustCompile(`^[a-z]{1,16}$`)

func (k jobKind) Kind() string { return "test_job" }
func (k jobKind) Validate(in activities.DeviceOpInput) error {
	if !jobName.MatchString(in.Target) {
		return &docker.ArgError{Arg: "target", Value: in.Target, Reason: "must be 1-16 lowercase letters"}
	}
	if in.Action != "run" {
		return &docker.ArgError{Arg: "action", Value: in.Action, Reason: "must be run"}
	}
	return nil
}
func (k jobKind) file(env *activities.OpEnv, ext string) string {
	return docker.ShellQuote(filepath.Join(k.dir, env.In.Target+ext))
}
func (k jobKind) Precheck(ctx context.Context, env *activities.OpEnv) (*activities.OpPrecheck, error) {
	res, err := env.Run(ctx, "test -e "+k.file(env, ".done"))
	if err != nil {
		return nil, err
	}
	if res.ExitCode == 0 {
		return &activities.OpPrecheck{Noop: true, Reason: "job already done"}, nil
	}
	return &activities.OpPrecheck{Before: "not done"}, nil
}
func (k jobKind) Act(ctx context.Context, env *activities.OpEnv) (*activities.OpAct, error) {
	res, err := env.Run(ctx, "test -e "+k.file(env, ".started")+" && echo again || { echo started; : >"+k.file(env, ".started")+"; }")
	if err != nil {
		return nil, err
	}
	out := strings.TrimSpace(string(res.Stdout))
	return &activities.OpAct{Output: out, AlreadyDone: out == "again"}, nil
}
func (k jobKind) Verify(ctx context.Context, env *activities.OpEnv) (*activities.OpVerify, error) {
	for i := 1; ; i++ {
		res, err := env.Run(ctx, "test -e "+k.file(env, ".done"))
		if ctx.Err() != nil {
			// Cancelled: stop the job on the device, as a kind stops its job.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = env.Run(sctx, ": >"+k.file(env, ".stopped"))
			cancel()
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		if res.ExitCode == 0 {
			return &activities.OpVerify{Summary: "job finished", After: "done"}, nil
		}
		if res.ExitCode != 1 {
			return nil, temporal.NewApplicationError("test failed", activities.ErrTypeVerifyFailed)
		}
		env.Progress(ctx, fmt.Sprintf("still running (check %d)", i))
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type deviceOpView struct {
	ID     uuid.UUID `json:"id"`
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	State  string    `json:"state"`
	Steps  []opStep  `json:"steps"`
	Error  string    `json:"error"`
	Result *struct {
		Summary string `json:"summary"`
		Noop    bool   `json:"noop"`
		Before  string `json:"before"`
		After   string `json:"after"`
		Output  string `json:"output"`
	} `json:"result"`
}

// The slow-cadence collection runs its collectors over real SSH after the first good poll and on poll-now, and
// the DeviceOperation workflow carries a kind through precheck, act, a followed verify with live progress, record,
// 409 and cancel, through the REST API.
func TestDeviceOperationsAndInventory(t *testing.T) {
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	// Not under t.TempDir, whose parent only root may enter: the device's user writes the job files.
	dir, err := os.MkdirTemp("", "infra-jobs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	coll := &unameCollector{}
	s := startStack(t, []ssh.Signer{sshd.ClientSigner}, teststack.WithCollectors(coll), teststack.WithOpKinds(jobKind{dir: dir}))
	dev := s.createDevice("ops", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	s.waitStatus(dev.ID, "online", "", 60*time.Second)

	t.Run("inventory", func(t *testing.T) {
		var runs map[string]store.InventoryRun
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var err error
			runs, err = store.InventoryRuns(context.Background(), s.DB, dev.ID)
			require.NoError(c, err)
			require.Contains(c, runs, "kernel")
		}, 60*time.Second, 200*time.Millisecond)
		require.True(t, runs["kernel"].OK, runs["kernel"].Error)
		require.Equal(t, "kernel Linux", runs["kernel"].Summary)
		before := coll.runs.Load()
		require.Equal(t, 200, s.do("POST", "/api/v1/devices/"+dev.ID.String()+"/poll", nil, nil))
		require.Eventually(t, func() bool { return coll.runs.Load() > before }, 60*time.Second, 200*time.Millisecond,
			"a poll-now collects at once")
	})

	base := "/api/v1/devices/" + dev.ID.String() + "/operations"
	start := func(target string) (int, deviceOpView, map[string]any) {
		var raw map[string]any
		code := s.do("POST", base, map[string]any{"kind": "test_job", "target": target, "action": "run"}, &raw)
		return code, decodeAs[deviceOpView](t, raw), raw
	}
	get := func(id uuid.UUID) deviceOpView {
		var o deviceOpView
		require.Equal(t, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		return o
	}

	t.Run("validation names the field", func(t *testing.T) {
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"kind": "test_job", "target": "Bad;rm", "action": "run"}, "target"},
			{map[string]any{"kind": "test_job", "target": "ok", "action": "explode"}, "action"},
			{map[string]any{"kind": "nope", "target": "ok", "action": "run"}, "kind"},
			{map[string]any{"target": "ok", "action": "run"}, "kind"},
		} {
			var raw map[string]any
			require.Equal(t, 422, s.do("POST", base, tc.body, &raw), "%v", tc.body)
			require.Contains(t, raw["error"].(map[string]any)["fields"], tc.field, "%v", raw)
		}
	})

	t.Run("followed to completion, one at a time", func(t *testing.T) {
		code, op, raw := start("alpha")
		require.Equal(t, 202, code, "%v", raw)
		require.Equal(t, "test_job", op.Kind)
		// Progress shows while verify follows the job.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			o := get(op.ID)
			require.NotEmpty(c, o.Steps)
			last := o.Steps[len(o.Steps)-1]
			require.Equal(c, "verify", last.Name)
			require.Contains(c, last.Detail, "still running")
		}, 60*time.Second, 100*time.Millisecond)
		code, _, raw = start("alpha")
		require.Equal(t, 409, code, "a second operation on the same target: %v", raw)
		require.Contains(t, fmt.Sprint(raw), op.ID.String())

		require.NoError(t, os.WriteFile(filepath.Join(dir, "alpha.done"), nil, 0o644))
		o := s.waitDeviceOp(op.ID)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)
		require.Equal(t, []string{"precheck", "act", "verify", "record"}, stepNamesOf(o.Steps))
		require.Equal(t, "job finished", o.Steps[2].Detail)
		require.Equal(t, "started", o.Result.Output)
		require.Equal(t, "not done", o.Result.Before)
		require.Equal(t, "done", o.Result.After)
		require.FileExists(t, filepath.Join(dir, "alpha.started"))

		// Done already: precheck answers nothing to do, without acting.
		code, op, _ = start("alpha")
		require.Equal(t, 202, code)
		o = s.waitDeviceOp(op.ID)
		require.Equal(t, store.OpSucceeded, o.State)
		require.True(t, o.Result.Noop)
	})

	t.Run("cancel stops the job", func(t *testing.T) {
		code, op, raw := start("beta")
		require.Equal(t, 202, code, "%v", raw)
		require.Eventually(t, func() bool {
			_, err := os.Stat(filepath.Join(dir, "beta.started"))
			return err == nil
		}, 60*time.Second, 100*time.Millisecond)
		require.Contains(t, []int{200, 202}, s.do("POST", "/api/v1/operations/"+op.ID.String()+"/cancel", nil, nil))
		o := s.waitDeviceOp(op.ID)
		require.Equal(t, store.OpCancelled, o.State)
		require.Eventually(t, func() bool {
			_, err := os.Stat(filepath.Join(dir, "beta.stopped"))
			return err == nil
		}, 90*time.Second, 100*time.Millisecond, "verify stopped the job when cancelled")
	})

	t.Run("audited", func(t *testing.T) {
		var page struct {
			Items []struct {
				Action string `json:"action"`
				Target string `json:"target"`
			} `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/audit?action=test_job.run", nil, &page))
		var targets []string
		for _, it := range page.Items {
			targets = append(targets, it.Target)
		}
		require.Contains(t, targets, "device/"+dev.ID.String()+"/test_job/alpha")
		require.Contains(t, targets, "device/"+dev.ID.String()+"/test_job/beta")
	})
}

func (s *stack) waitDeviceOp(id uuid.UUID) deviceOpView {
	s.t.Helper()
	var o deviceOpView
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		o = deviceOpView{}
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		require.True(c, store.OpFinal(o.State), "operation still %s", o.State)
	}, 90*time.Second, 100*time.Millisecond)
	return o
}

func stepNamesOf(steps []opStep) []string {
	var out []string
	for _, st := range steps {
		out = append(out, st.Name)
	}
	return out
}

func decodeAs[T any](t *testing.T, raw map[string]any) T {
	t.Helper()
	var v T
	if _, isErr := raw["error"].(map[string]any); isErr {
		return v
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}
