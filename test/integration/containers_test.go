package integration

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

type containerView struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	State          string `json:"state"`
	ExitCode       int    `json:"exit_code"`
	ComposeProject string `json:"compose_project"`
	ComposeService string `json:"compose_service"`
	DeviceName     string `json:"device_name"`
}

func (s *stack) containers(path string) []containerView {
	s.t.Helper()
	var out struct {
		Items []containerView `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", path, nil, &out))
	return out.Items
}

// psAll is the engine's own view: name -> "id state" of every container whose name has the test's prefix.
func psAll(t *testing.T, engine *testenv.DockerEngine, prefix string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(engine.Docker(t, "ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}} {{.State}}"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(f[0], prefix) {
			out[f[0]] = f[1] + " " + f[2]
		}
	}
	return out
}

// TestContainerInventory polls a device whose docker is a real engine: the stored inventory matches docker ps -a
// exactly, running containers get stats, logs come back with stdout and stderr apart, changes become events,
// and a device whose daemon is unreachable reports that while its host metrics keep flowing.
func TestContainerInventory(t *testing.T) {
	engine := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	prefix := testenv.ContainerName(t, "inv")
	name := func(s string) string { return prefix + "-" + s }
	t.Cleanup(func() {
		for n := range psAll(t, engine, prefix) {
			_, _ = engine.TryDocker(nil, "rm", "-f", n)
		}
	})
	engine.Docker(t, "run", "-d", "--network", "none", "--name", name("web"), img,
		"sh", "-c", "i=0; while :; do i=$((i+1)); echo out $i; echo err $i >&2; sleep 0.2; done")
	engine.Docker(t, "run", "--network", "none", "--name", name("done"), img, "true")
	engine.Docker(t, "run", "-d", "--network", "none", "--name", name("victim"), img, "sleep", "1000")
	engine.Docker(t, "run", "-d", "--network", "none", "--name", name("demo-app-1"),
		"--label", "com.docker.compose.project=demo", "--label", "com.docker.compose.service=app",
		"--label", "com.docker.compose.project.working_dir=/srv/demo", img, "sleep", "1000")

	withDocker := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	noDaemon := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv DOCKER_HOST=unix:///nonexistent/docker.sock"}})
	s := startStack(t, []ssh.Signer{withDocker.ClientSigner, noDaemon.ClientSigner})
	dev := s.createDevice("docker-host", withDocker.Host, withDocker.Port, withDocker.User, "trust_first_use")
	down := s.createDevice("docker-down", noDaemon.Host, noDaemon.Port, noDaemon.User, "trust_first_use")

	// The inventory matches docker ps -a exactly: same IDs, names and states.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		want := psAll(t, engine, prefix)
		got := map[string]string{}
		for _, ct := range s.containers("/api/v1/devices/" + dev.ID.String() + "/containers?name=" + prefix) {
			got[ct.Name] = ct.ID + " " + ct.State
		}
		assert.Len(c, want, 4)
		assert.Equal(c, want, got)
	}, 3*pollInterval, 250*time.Millisecond)

	all := s.containers("/api/v1/containers?project=demo")
	require.Len(t, all, 1)
	require.Equal(t, "app", all[0].ComposeService)
	require.Equal(t, "docker-host", all[0].DeviceName)
	exited := s.containers("/api/v1/devices/" + dev.ID.String() + "/containers?state=exited&name=" + prefix)
	require.Len(t, exited, 1)
	require.Equal(t, name("done"), exited[0].Name)

	// Stats of running containers appear once two polls give a rate.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var detail struct {
			Container containerView  `json:"container"`
			Latest    map[string]any `json:"latest_stats"`
			Docker    map[string]any `json:"docker"`
		}
		assert.Equal(c, 200, s.do("GET", "/api/v1/devices/"+dev.ID.String()+"/containers/"+name("web"), nil, &detail))
		assert.Equal(c, "available", detail.Docker["state"])
		if assert.NotNil(c, detail.Latest) {
			assert.NotNil(c, detail.Latest["cpu_percent"])
			assert.Greater(c, detail.Latest["memory_used_bytes"], 0.0)
		}
	}, 4*pollInterval, 500*time.Millisecond)

	// Logs: the last lines, stdout and stderr marked, in time order.
	var logs struct {
		Lines []struct {
			Time   time.Time `json:"time"`
			Stream string    `json:"stream"`
			Text   string    `json:"text"`
		} `json:"lines"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/devices/"+dev.ID.String()+"/containers/"+name("web")+"/logs?tail=6", nil, &logs))
	require.NotEmpty(t, logs.Lines)
	require.LessOrEqual(t, len(logs.Lines), 12, "tail applies per stream")
	streams := map[string]bool{}
	for i, l := range logs.Lines {
		streams[l.Stream] = true
		require.True(t, strings.HasPrefix(l.Text, "out ") && l.Stream == "stdout" || strings.HasPrefix(l.Text, "err ") && l.Stream == "stderr", "line %q on %s", l.Text, l.Stream)
		if i > 0 {
			require.False(t, l.Time.Before(logs.Lines[i-1].Time), "lines in time order")
		}
	}
	require.Equal(t, map[string]bool{"stdout": true, "stderr": true}, streams)
	// Reading logs is a read of sensitive data: it is audited with who read which container (#15).
	reads, _, err := store.ListAudit(context.Background(), s.DB, store.AuditFilter{Action: "read.container_logs"})
	require.NoError(t, err)
	require.Len(t, reads, 1)
	require.Equal(t, "device/"+dev.ID.String()+"/containers/"+name("web"), reads[0].Target)
	require.NotNil(t, reads[0].TokenID)
	since := logs.Lines[len(logs.Lines)-1].Time.Add(time.Nanosecond).Format(time.RFC3339Nano)
	require.Eventually(t, func() bool {
		var later struct {
			Lines []struct {
				Time time.Time `json:"time"`
			} `json:"lines"`
		}
		s.do("GET", "/api/v1/devices/"+dev.ID.String()+"/containers/"+name("web")+"/logs?since="+since, nil, &later)
		if len(later.Lines) == 0 {
			return false
		}
		for _, l := range later.Lines {
			if l.Time.Before(logs.Lines[len(logs.Lines)-1].Time) {
				return false
			}
		}
		return true
	}, 10*time.Second, 250*time.Millisecond, "since returns only newer lines")
	var errBody map[string]any
	require.Equal(t, 404, s.do("GET", "/api/v1/devices/"+dev.ID.String()+"/containers/nosuch-"+prefix+"/logs", nil, &errBody))
	require.Equal(t, 422, s.do("GET", "/api/v1/devices/"+dev.ID.String()+"/containers/$(reboot)/logs", nil, &errBody))

	// Changes between polls become events: a kill (non-zero exit) and a removal.
	engine.Docker(t, "kill", name("victim"))
	engine.Docker(t, "rm", "-f", name("demo-app-1"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var ev struct {
			Items []struct {
				Kind string          `json:"kind"`
				Data json.RawMessage `json:"data"`
			} `json:"items"`
		}
		assert.Equal(c, 200, s.do("GET", "/api/v1/events?device_id="+dev.ID.String()+"&kind=container", nil, &ev))
		var kinds []string
		for _, e := range ev.Items {
			var d struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(e.Data, &d)
			kinds = append(kinds, e.Kind+" "+d.Name)
		}
		sort.Strings(kinds)
		assert.Contains(c, kinds, "container.died "+name("victim"))
		assert.Contains(c, kinds, "container.removed "+name("demo-app-1"))
		assert.NotContains(c, kinds, "container.created "+name("web"), "the first inventory raises no events")
	}, 3*pollInterval, 250*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, psAll(t, engine, prefix), func() map[string]string {
			got := map[string]string{}
			for _, ct := range s.containers("/api/v1/devices/" + dev.ID.String() + "/containers?name=" + prefix) {
				got[ct.Name] = ct.ID + " " + ct.State
			}
			return got
		}())
	}, 3*pollInterval, 250*time.Millisecond)

	// A device whose docker daemon cannot be reached says so, and its host metrics keep flowing.
	s.waitSamples(down.ID, 2, 3*pollInterval)
	var d struct {
		Status string         `json:"status"`
		Docker map[string]any `json:"docker"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/devices/"+down.ID.String(), nil, &d))
	require.Equal(t, "online", d.Status)
	require.Equal(t, "daemon_down", d.Docker["state"])
	var rows int
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM containers WHERE device_id = $1`, down.ID).Scan(&rows))
	require.Zero(t, rows)
}
