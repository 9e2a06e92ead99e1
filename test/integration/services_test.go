package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// systemdDevice is a test device whose sshd runs in a mount namespace of its own with /run/systemd/system present
// (systemd's "booted" mark, which the product checks before trusting systemctl) and the fake systemctl first on
// the login user's PATH. Units: web.service (active), broken.service (inactive; start fails), backup.service
// (failed); every other name is not-found.
type systemdDevice struct {
	sshd *testenv.SSHD
	*testenv.FakeSystemd
}

func startSystemdDevice(t *testing.T) *systemdDevice {
	t.Helper()
	fake := testenv.NewFakeSystemd(t, testenv.FakeUnit{Name: "web.service", Active: "active"},
		testenv.FakeUnit{Name: "broken.service", Active: "inactive"},
		testenv.FakeUnit{Name: "backup.service", Active: "failed", Restarts: 3})
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{
		// A private /run (tmpfs) in a private mount namespace: /run/systemd/system exists for this sshd and its
		// sessions only, never for the rest of the machine.
		Launcher: []string{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
			`mount -t tmpfs -o mode=0755 infra-test-run /run && mkdir -p /run/sshd /run/systemd/system && exec "$@"`, "sh"},
		ExtraConfig: []string{"SetEnv PATH=" + fake.Bin + ":/usr/local/bin:/usr/bin:/bin"},
		// Through the device wrapper, as setup-device.sh installs it: it must let every command through.
		Wrapper: true,
	})
	return &systemdDevice{sshd: sshd, FakeSystemd: fake}
}

type serviceView struct {
	Unit        string     `json:"unit"`
	ActiveState string     `json:"active_state"`
	SubState    string     `json:"sub_state"`
	ActiveSince *time.Time `json:"active_since"`
	NRestarts   *int64     `json:"n_restarts"`
	MainPID     int64      `json:"main_pid"`
	MemoryBytes *int64     `json:"memory_bytes"`
	Failed      bool       `json:"failed"`
	Watched     bool       `json:"watched"`
	Level       string     `json:"level"`
	Reason      string     `json:"reason"`
}

type servicesAnswer struct {
	Systemd *struct {
		Available   bool `json:"available"`
		FailedCount int  `json:"failed_count"`
	} `json:"systemd"`
	WatchedUnits []string      `json:"watched_units"`
	Items        []serviceView `json:"items"`
}

func (s *stack) services(id uuid.UUID) servicesAnswer {
	s.t.Helper()
	var out servicesAnswer
	require.Equal(s.t, 200, s.do("GET", "/api/v1/devices/"+id.String()+"/services", nil, &out))
	return out
}

type svcOpView struct {
	ID         uuid.UUID `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	Kind       string    `json:"kind"`
	Target     string    `json:"target"`
	Action     string    `json:"action"`
	State      string    `json:"state"`
	Error      string    `json:"error"`
	Steps      []opStep  `json:"steps"`
	Result     *struct {
		Summary string `json:"summary"`
		Noop    bool   `json:"noop"`
		Before  string `json:"before"`
		After   string `json:"after"`
	} `json:"result"`
}

func (s *stack) serviceAct(dev uuid.UUID, unit, action, wait string) (int, svcOpView, string) {
	s.t.Helper()
	path := "/api/v1/devices/" + dev.String() + "/services/" + unit + "/actions"
	if wait != "" {
		path += "?wait=" + wait
	}
	var raw map[string]any
	code := s.do("POST", path, map[string]any{"action": action}, &raw)
	var o svcOpView
	if _, isErr := raw["error"].(map[string]any); !isErr {
		b, err := json.Marshal(raw)
		require.NoError(s.t, err)
		require.NoError(s.t, json.Unmarshal(b, &o))
	}
	return code, o, errMessage(raw)
}

// waitUnitIdle waits until no operation workflow runs on the unit: an operation's row says it finished a moment
// before its workflow closes, and until then a new one on the unit is (rightly) a 409.
func (s *stack) waitUnitIdle(dev uuid.UUID, unit string) {
	s.t.Helper()
	wid := "op/" + dev.String() + "/service/" + unit
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		d, err := s.TC.DescribeWorkflowExecution(context.Background(), wid, "")
		if err != nil {
			return // never started
		}
		assert.NotEqual(c, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.WorkflowExecutionInfo.Status)
	}, 30*time.Second, 100*time.Millisecond)
}

func (s *stack) waitServiceOp(id uuid.UUID, within time.Duration) svcOpView {
	s.t.Helper()
	var o svcOpView
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		o = svcOpView{}
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		require.Contains(c, []string{"succeeded", "failed", "cancelled"}, o.State, "operation still %s", o.State)
	}, within, 200*time.Millisecond)
	return o
}

// TestServicesEndToEnd: the services collection reads failed and watched units over the real sshd (and device
// wrapper) from the fake systemctl, raises the check alerts, and the service_action operation restarts a unit
// through REST and MCP, refuses a second concurrent one with 409, and reports a unit that fails to start as a
// failed verify.
func TestServicesEndToEnd(t *testing.T) {
	dev := startSystemdDevice(t)
	s := startStack(t, []ssh.Signer{dev.sshd.ClientSigner})
	d := s.createDevice("systemd-host", dev.sshd.Host, dev.sshd.Port, dev.sshd.User, "trust_first_use")
	s.waitStatus(d.ID, "online", "", 60*time.Second)
	base := "/api/v1/devices/" + d.ID.String()
	s.onlyRules("unit-failed", "watched-unit-inactive") // the test machine's own CPU or disks must not fire

	t.Run("watch lists are validated with the unit-name grammar", func(t *testing.T) {
		var e struct {
			Error struct {
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		for _, bad := range []any{[]string{"nginx;id"}, []string{"a/b.service"}, []string{"@x.service"}, "web"} {
			e.Error.Fields = nil
			require.Equal(t, 422, s.do("PUT", base+"/watched-units", map[string]any{"units": bad}, &e), "%v", bad)
			require.Contains(t, e.Error.Fields, "units", "%v", bad)
		}
		// The same list is the device setting watched_units.
		e.Error.Fields = nil
		require.Equal(t, 422, s.do("PATCH", base, map[string]any{"watched_units": []string{"x y"}}, &e))
		require.Contains(t, e.Error.Fields, "watched_units")
		var dv struct {
			WatchedUnits []string `json:"watched_units"`
		}
		require.Equal(t, 200, s.do("PATCH", base, map[string]any{"watched_units": []string{"sshd", "cron.service"}}, &dv))
		require.Equal(t, []string{"cron.service", "sshd.service"}, dv.WatchedUnits)
		var got struct {
			Units     []string `json:"units"`
			Effective []string `json:"effective"`
		}
		require.Equal(t, 200, s.do("PUT", base+"/watched-units", map[string]any{"units": []string{"web", "broken.service"}}, &got))
		require.Equal(t, []string{"broken.service", "web.service"}, got.Units)
		// A tag's watch list joins the device's own.
		require.Equal(t, 200, s.do("PATCH", base, map[string]any{"tags": []string{"edge"}}, nil))
		require.Equal(t, 200, s.do("PUT", "/api/v1/watched-units/tags/edge", map[string]any{"units": []string{"ghost"}}, nil))
		require.Equal(t, 200, s.do("GET", base+"/watched-units", nil, &got))
		require.Equal(t, []string{"broken.service", "ghost.service", "web.service"}, got.Effective)
	})

	t.Run("collection stores failed and watched units and raises the check alerts", func(t *testing.T) {
		ws := startWSAPI(t, s.DB, hub.Options{}, nil).connect(t, s.Token)
		ws.subscribe("device." + d.ID.String() + ".services")
		require.Equal(t, 200, s.do("POST", base+"/poll", nil, nil)) // a poll-now also collects the inventory
		// The live update names the counts; details come from REST. The collection runs after the poll, over SSH:
		// allow for a loaded machine.
		for {
			m := ws.readWithin(time.Minute)
			require.Equal(t, "update", m.Type)
			var data struct {
				Systemd   bool `json:"systemd"`
				Failed    int  `json:"failed"`
				Watched   int  `json:"watched"`
				WatchedOK int  `json:"watched_ok"`
			}
			require.NoError(t, json.Unmarshal(m.Data, &data))
			if data.Watched == 3 { // an earlier collection (after the first poll) may have seen no watch list yet
				require.True(t, data.Systemd)
				require.Equal(t, 1, data.Failed)
				require.Equal(t, 1, data.WatchedOK) // web.service
				break
			}
		}
		var got servicesAnswer
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got = s.services(d.ID)
			require.NotNil(c, got.Systemd)
			require.Len(c, got.Items, 4)
		}, 90*time.Second, 500*time.Millisecond)
		require.True(t, got.Systemd.Available)
		require.Equal(t, 1, got.Systemd.FailedCount)
		byUnit := map[string]serviceView{}
		for _, v := range got.Items {
			byUnit[v.Unit] = v
		}
		// Worst first: the watched units that are not active (critical), then the failed one (warning), then ok.
		require.Equal(t, "critical", got.Items[0].Level)
		require.Equal(t, "critical", got.Items[1].Level)
		require.Equal(t, "backup.service", got.Items[2].Unit)
		require.Equal(t, "warning", got.Items[2].Level)
		require.True(t, got.Items[2].Failed)
		require.Equal(t, int64(3), *got.Items[2].NRestarts)
		require.Equal(t, "web.service", got.Items[3].Unit)
		require.Equal(t, "ok", got.Items[3].Level)
		require.Equal(t, int64(4242), byUnit["web.service"].MainPID)
		require.NotNil(t, byUnit["web.service"].ActiveSince)
		require.NotNil(t, byUnit["web.service"].MemoryBytes)
		require.Contains(t, byUnit["ghost.service"].Reason, "does not exist")
		require.Equal(t, "inactive", byUnit["broken.service"].ActiveState)

		require.EventuallyWithT(t, func(c *assert.CollectT) {
			firing := map[string]string{}
			for _, a := range s.alerts("?device_id=" + d.ID.String()) {
				if a.State == "firing" {
					firing[a.Subject] = a.Severity
				}
			}
			assert.Equal(c, "warning", firing["backup.service"])
			assert.Equal(c, "critical", firing["broken.service"])
			assert.Equal(c, "critical", firing["ghost.service"])
			assert.NotContains(c, firing, "web.service")
		}, 60*time.Second, 500*time.Millisecond)
		require.Contains(t, s.eventKinds(d.ID), "service.failed")
	})

	t.Run("a unit no longer watched resolves its alert", func(t *testing.T) {
		require.Equal(t, 200, s.do("PUT", "/api/v1/watched-units/tags/edge", map[string]any{"units": []string{}}, nil))
		require.Equal(t, 200, s.do("POST", base+"/poll", nil, nil))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			state := map[string]string{}
			for _, a := range s.alerts("?device_id=" + d.ID.String()) {
				state[a.Subject] = a.State
			}
			assert.Equal(c, "resolved", state["ghost.service"])
			assert.Equal(c, "firing", state["broken.service"])
		}, 60*time.Second, 500*time.Millisecond)
	})

	t.Run("restart through REST; a second one at the same time gets 409", func(t *testing.T) {
		before := len(dev.Calls(t))
		code, op, msg := s.serviceAct(d.ID, "web", "restart", "")
		require.Equal(t, 202, code, msg)
		require.Equal(t, "service", op.Kind)
		require.Equal(t, "web.service", op.Target)
		code, _, msg = s.serviceAct(d.ID, "web.service", "restart", "")
		require.Equal(t, 409, code, msg)
		require.Contains(t, msg, op.ID.String())
		done := s.waitServiceOp(op.ID, 90*time.Second)
		require.Equal(t, "succeeded", done.State, done.Error)
		require.Contains(t, done.Result.Before, "active/running")
		require.Contains(t, done.Result.After, "active/running")
		require.NotEqual(t, done.Result.Before, done.Result.After, "a new active-since after the restart")
		require.Equal(t, []string{"restart web.service"}, dev.Calls(t)[before:], "restarted exactly once")
	})

	t.Run("start of an active unit does nothing; an unknown unit fails precheck; a bad action names the field", func(t *testing.T) {
		s.waitUnitIdle(d.ID, "web.service")
		code, op, msg := s.serviceAct(d.ID, "web", "start", "60s")
		require.Equal(t, 200, code, msg)
		require.Equal(t, "succeeded", op.State)
		require.True(t, op.Result.Noop)
		code, op, msg = s.serviceAct(d.ID, "ghost", "restart", "60s")
		require.Equal(t, 200, code, msg)
		require.Equal(t, "failed", op.State)
		require.Contains(t, op.Error, "not found")
		code, _, msg = s.serviceAct(d.ID, "web", "mask", "")
		require.Equal(t, 422, code)
		require.Contains(t, msg, "action")
		code, _, msg = s.serviceAct(d.ID, "foo@.service", "start", "")
		require.Equal(t, 422, code)
		require.Contains(t, msg, "unit")
	})

	t.Run("a unit that fails to start fails verify", func(t *testing.T) {
		code, op, msg := s.serviceAct(d.ID, "broken", "start", "60s")
		require.Equal(t, 200, code, msg)
		require.Equal(t, "failed", op.State)
		require.Contains(t, op.Error, "verify")
		require.Contains(t, op.Error, "failed to become active")
	})

	t.Run("service_action and list_services over MCP", func(t *testing.T) {
		c := mcpConnect(t, s.URL+mcpapi.MCPPath, s.OperateToken)
		res := mcpCall(t, c, "list_services", map[string]any{"device": d.Name})
		require.False(t, res.IsError, mcpText(res))
		text := mcpText(res)
		require.Less(t, strings.Index(text, "broken.service"), strings.Index(text, "web.service"), "failed first: %s", text)

		before := len(dev.Calls(t))
		s.waitUnitIdle(d.ID, "web.service")
		res = mcpCall(t, c, "service_action", map[string]any{"device": d.Name, "unit": "web", "action": "restart", "wait_seconds": 90})
		require.False(t, res.IsError, mcpText(res))
		require.Contains(t, mcpText(res), "succeeded")
		require.Equal(t, []string{"restart web.service"}, dev.Calls(t)[before:])

		// Two at once on one unit: one runs, the other is told an operation is already running.
		s.waitUnitIdle(d.ID, "web.service")
		var wg sync.WaitGroup
		results := make([]*mcp.CallToolResult, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = mcpCall(t, mcpConnect(t, s.URL+mcpapi.MCPPath, s.OperateToken), "service_action",
					map[string]any{"device": d.Name, "unit": "web.service", "action": "restart", "wait_seconds": 90})
			}()
		}
		wg.Wait()
		errs := 0
		for _, r := range results {
			if r.IsError {
				errs++
				require.Contains(t, mcpText(r), "already running")
			}
		}
		require.Equal(t, 1, errs, "%s | %s", mcpText(results[0]), mcpText(results[1]))

		// With use_sudo the action goes through sudo -n.
		require.Equal(t, 200, s.do("PATCH", base, map[string]any{"use_sudo": true}, nil))
		s.waitUnitIdle(d.ID, "web.service")
		before = len(dev.Calls(t))
		code, op, msg := s.serviceAct(d.ID, "web", "stop", "60s")
		require.Equal(t, 200, code, msg)
		require.Equal(t, "succeeded", op.State, op.Error)
		require.Equal(t, []string{"sudo_stop", "stop web.service"}, dev.Calls(t)[before:])

		// A read token does not see the tool.
		rc := mcpConnect(t, s.URL+mcpapi.MCPPath, s.ReadToken)
		tools, err := rc.ListTools(context.Background(), mcp.ListToolsRequest{})
		require.NoError(t, err)
		for _, tool := range tools.Tools {
			require.NotEqual(t, "service_action", tool.Name)
		}
	})
}

// TestProcessesEndToEnd: the top processes of the test host's real /proc, read over sshd with procps and with
// busybox ps (which sends the script down its /proc reader), on request and as the collection's snapshot.
func TestProcessesEndToEnd(t *testing.T) {
	bin := t.TempDir()
	require.NoError(t, os.Chmod(bin, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	busybox, err := exec.LookPath("busybox")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(busybox, filepath.Join(bin, "ps")))
	procps := testenv.StartSSHD(t, testenv.SSHDOptions{Wrapper: true})
	bbox := testenv.StartSSHD(t, testenv.SSHDOptions{Wrapper: true,
		ExtraConfig: []string{"SetEnv PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin"}})
	s := startStack(t, []ssh.Signer{procps.ClientSigner, bbox.ClientSigner})
	for name, sshd := range map[string]*testenv.SSHD{"procps": procps, "proc": bbox} {
		t.Run(name, func(t *testing.T) {
			d := s.createDevice("ps-"+name, sshd.Host, sshd.Port, sshd.User, "trust_first_use")
			s.waitStatus(d.ID, "online", "", 60*time.Second)
			base := "/api/v1/devices/" + d.ID.String()
			for _, srt := range []string{"cpu", "memory"} {
				var got struct {
					Source string `json:"source"`
					Items  []struct {
						PID        int     `json:"pid"`
						User       string  `json:"user"`
						Command    string  `json:"command"`
						CPUPercent float64 `json:"cpu_percent"`
						RSSBytes   uint64  `json:"rss_bytes"`
						State      string  `json:"state"`
						Started    string  `json:"started"`
					} `json:"items"`
				}
				require.Equal(t, 200, s.do("GET", base+"/processes?sort="+srt+"&limit=5", nil, &got))
				require.Equal(t, name, got.Source)
				require.Len(t, got.Items, 5)
				for i, p := range got.Items {
					require.Positive(t, p.PID)
					require.NotEmpty(t, p.Command)
					require.NotEmpty(t, p.State)
					if i > 0 && srt == "memory" {
						require.LessOrEqual(t, p.RSSBytes, got.Items[i-1].RSSBytes)
					}
				}
			}
			var e struct {
				Error struct {
					Fields map[string]string `json:"fields"`
				} `json:"error"`
			}
			require.Equal(t, 422, s.do("GET", base+"/processes?sort=disk&limit=500", nil, &e))
			require.Contains(t, e.Error.Fields, "sort")
			require.Contains(t, e.Error.Fields, "limit")

			// The collection's snapshot: the top 10 by each order, and the device without systemd says so.
			require.Equal(t, 200, s.do("POST", base+"/poll", nil, nil))
			var snap struct {
				Source   string            `json:"source"`
				ByCPU    []json.RawMessage `json:"by_cpu"`
				ByMemory []json.RawMessage `json:"by_memory"`
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				require.Equal(c, 200, s.do("GET", base+"/processes/snapshot", nil, &snap))
			}, 90*time.Second, 500*time.Millisecond)
			require.Equal(t, name, snap.Source)
			require.Len(t, snap.ByCPU, 10)
			require.Len(t, snap.ByMemory, 10)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				got := s.services(d.ID)
				require.NotNil(c, got.Systemd)
				assert.False(c, got.Systemd.Available)
			}, 90*time.Second, 500*time.Millisecond)
		})
	}
}

func mcpConnect(t *testing.T, url, token string) *mcpclient.Client {
	t.Helper()
	c, err := mcpclient.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "infrastructor-services-test", Version: "1"}}})
	require.NoError(t, err)
	return c
}

func mcpCall(t *testing.T, c *mcpclient.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	require.NoError(t, err)
	return res
}

func mcpText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}
