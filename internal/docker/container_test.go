package docker

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

func TestParseInspectSharedFixtures(t *testing.T) {
	dir := filepath.Join(sharedFixtures(t), "docker")
	for _, name := range []string{"container_net_supplier", "container_stopped", "container_running"} {
		t.Run(name, func(t *testing.T) {
			cs, err := ParseInspect(golden.Read(t, filepath.Join(dir, "watchtower__"+name+".json")))
			require.NoError(t, err)
			require.Len(t, cs, 1)
			golden.JSON(t, "inspect_watchtower_"+name, cs)
		})
	}
}

func TestParseInspectFacts(t *testing.T) {
	dir := filepath.Join(sharedFixtures(t), "docker")
	cs, err := ParseInspect(golden.Read(t, filepath.Join(dir, "watchtower__container_net_supplier.json")))
	require.NoError(t, err)
	c := cs[0]
	require.Equal(t, "wt-contnet-producer-1", c.Name)
	require.Equal(t, StateRunning, c.State)
	require.Equal(t, HealthHealthy, c.Health)
	require.Equal(t, "wt-contnet", c.ComposeProject)
	require.Equal(t, "producer", c.ComposeService)
	require.Equal(t, "/tmp/wt-contnet", c.ComposeWorkingDir)
	require.Equal(t, map[string]string{"wt-contnet_default": "172.19.0.2"}, c.Networks)
	require.True(t, c.Finished.IsZero(), "0001-01-01 FinishedAt means never")

	cs, err = ParseInspect(golden.Read(t, filepath.Join(dir, "watchtower__container_stopped.json")))
	require.NoError(t, err)
	require.Equal(t, StateExited, cs[0].State)
	require.Equal(t, 1, cs[0].ExitCode)
	require.Equal(t, HealthNone, cs[0].Health)
	require.Equal(t, time.Date(2019, 4, 10, 19, 52, 14, 265091583, time.UTC), cs[0].Finished)
}

func TestParseRecorded(t *testing.T) {
	ps, err := ParsePS(golden.Read(t, "testdata/recorded/inventory.out"))
	require.NoError(t, err)
	golden.JSON(t, "ps_recorded", ps)
	in, err := ParseInspect(golden.Read(t, "testdata/recorded/inspect.out"))
	require.NoError(t, err)
	golden.JSON(t, "inspect_recorded", in)

	// Both views of the same engine must agree on what they both report.
	byName := map[string]Container{}
	for _, c := range in {
		byName[c.Name] = c
	}
	require.Len(t, ps, len(in))
	for _, p := range ps {
		i, ok := byName[p.Name]
		require.True(t, ok, "container %s missing from inspect", p.Name)
		require.Equal(t, i.ID, p.ID)
		require.Equal(t, i.State, p.State, p.Name)
		require.Equal(t, i.Health, p.Health, p.Name)
		require.Equal(t, i.ExitCode, p.ExitCode, p.Name)
		require.Equal(t, i.Image, p.Image, p.Name)
		require.Equal(t, i.Labels, p.Labels, p.Name)
		require.Equal(t, i.ComposeProject, p.ComposeProject, p.Name)
		require.Equal(t, i.Created.Truncate(time.Second), p.Created, p.Name)
		var published []Port
		for _, port := range i.Ports {
			if port.HostPort != 0 {
				published = append(published, port)
			}
		}
		require.Equal(t, published, p.Ports, p.Name)
	}
	web := byName["web-1"]
	require.Equal(t, "shop", web.ComposeProject)
	require.Equal(t, "web", web.ComposeService)
	require.Equal(t, "/srv/shop", web.ComposeWorkingDir)
	require.NotEmpty(t, web.Networks["infra-test-net"])
	require.Positive(t, web.PID)
	require.Equal(t, StatePaused, byName["paused"].State)
	require.Equal(t, StateCreated, byName["created-only"].State)
	require.Equal(t, 3, byName["failing"].ExitCode)
}

func TestParsePSLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Container
		err  string
	}{
		{
			name: "old docker without State, unhealthy, ranges and IPv6",
			line: `{"ID":"abc","Names":"app,other/alias","Image":"nginx","Status":"Up 2 hours (unhealthy)",` +
				`"Ports":"0.0.0.0:8000-8001->80-81/tcp, [::]:53->53/udp, 9000/tcp","Labels":"a=1,b=x,y,c=","CreatedAt":"2024-01-02 03:04:05 +0100 CET"}`,
			want: Container{ID: "abc", Name: "app", Image: "nginx", State: StateRunning, Status: "Up 2 hours (unhealthy)",
				Health: HealthUnhealthy, Created: time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC),
				Ports: []Port{
					{HostIP: "0.0.0.0", HostPort: 8000, HostPortEnd: 8001, ContainerPort: 80, ContainerPortEnd: 81, Protocol: "tcp"},
					{HostIP: "::", HostPort: 53, ContainerPort: 53, Protocol: "udp"},
					{ContainerPort: 9000, Protocol: "tcp"},
				},
				Labels: map[string]string{"a": "1", "b": "x,y", "c": ""}},
		},
		{
			name: "restarting and exited negative",
			line: `{"ID":"d","Names":"r","Status":"Exited (-1) 3 days ago"}`,
			want: Container{ID: "d", Name: "r", State: StateExited, Status: "Exited (-1) 3 days ago", Health: HealthNone, ExitCode: -1},
		},
		{
			name: "health starting",
			line: `{"ID":"e","Names":"s","State":"running","Status":"Up 1 second (health: starting)"}`,
			want: Container{ID: "e", Name: "s", State: StateRunning, Status: "Up 1 second (health: starting)", Health: HealthStarting},
		},
		{name: "no id", line: `{"Names":"x"}`, err: "no ID"},
		{name: "bad json", line: `{"ID":`, err: "decode"},
		{name: "bad port", line: `{"ID":"a","Ports":"80->x"}`, err: "unrecognised port"},
		{name: "bad created", line: `{"ID":"a","CreatedAt":"yesterday"}`, err: "CreatedAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParsePSLine([]byte(tc.line))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
}

func TestParsePSReportsLine(t *testing.T) {
	_, err := ParsePS([]byte("{\"ID\":\"a\"}\n\nnot json\n"))
	require.ErrorContains(t, err, "line 3")
}

func TestParseLogLine(t *testing.T) {
	ts, text, err := ParseLogLine("2026-11-25T20:56:21.123456789Z hello world")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 25, 20, 56, 21, 123456789, time.UTC), ts)
	require.Equal(t, "hello world", text)
	_, _, err = ParseLogLine("hello world")
	require.Error(t, err)
	_, text, err = ParseLogLine("2026-11-25T20:56:21Z")
	require.NoError(t, err)
	require.Empty(t, text)
}
