package deps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
	"github.com/infrastructor/infrastructor/internal/netinfo"
)

// recorded reads the real docker inspect output recorded by internal/netinfo's TestRealDockerNetworks: project
// demo with db, app (depends_on db, link to db, shares volume demo_data, networks demo_back and demo_front,
// publishes port 80 on 127.0.0.1) and sidecar (network_mode container:app, depends_on app and db, shares the
// /srv/demo/conf bind with app).
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "netinfo", "testdata", "recorded", name))
	require.NoError(t, err)
	return b
}

func names(rs []Relation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s %s", r.Name, r.Reason, r.Detail))
	}
	return out
}

func TestRecordedProject(t *testing.T) {
	cs, err := FromInspect(recorded(t, "docker-containers-inspect.json"))
	require.NoError(t, err)
	require.Len(t, cs, 3)
	g, err := Analyze(cs)
	require.NoError(t, err)

	app, err := g.For("demo-app-1")
	require.NoError(t, err)
	require.Equal(t, []string{"demo-db-1 depends_on service db (service_started)", "demo-db-1 link link as database"}, names(app.Needs))
	require.ElementsMatch(t, []string{"demo-sidecar-1 network_mode shares its network namespace", "demo-sidecar-1 depends_on service app (service_started)"}, names(app.NeededBy))
	require.Equal(t, []string{"demo-db-1 shared_network network demo_back", "demo-db-1 shared_volume volume demo_data", "demo-sidecar-1 shared_volume bind /srv/demo/conf"}, names(app.Shares))

	db, err := g.For("demo-db-1")
	require.NoError(t, err)
	require.Empty(t, db.Needs)
	require.Equal(t, []string{"demo-app-1 depends_on service db (service_started)", "demo-app-1 link link as database", "demo-sidecar-1 depends_on service db (service_healthy)"}, names(db.NeededBy))

	side, err := g.For(cs[2].ID[:12])
	require.NoError(t, err)
	require.Equal(t, "demo-sidecar-1", side.Container)
	require.Len(t, side.Needs, 3)

	golden.JSON(t, "recorded-app", app)
	golden.JSON(t, "recorded-sidecar", side)

	nets, _, err := netinfo.ParseDockerNetworks(recorded(t, "docker-network-inspect.json"))
	require.NoError(t, err)
	host, err := netinfo.Parse(recorded(t, "netns-bridge-veth.txt"))
	require.NoError(t, err)
	topo := BuildTopology([]HostInput{
		{Device: "docker1", Host: host, DockerNetworks: nets, Containers: cs},
		{Device: "nas", Host: &netinfo.Host{Interfaces: []netinfo.Interface{{Name: "eth0", Addresses: []netinfo.Address{{Family: "inet", CIDR: "192.168.77.20/24"}, {Family: "inet", CIDR: "172.30.2.9/24"}}}}}},
	})
	require.Equal(t, []SharedSubnet{{Subnet: "192.168.77.0/24", Devices: []string{"docker1", "nas"}}}, topo.SharedSubnets,
		"docker1's own Docker subnet 172.30.2.0/24 is not a host subnet")
	// The host port was picked by the engine when recording.
	require.Len(t, topo.PublishedPorts, 1)
	require.NotZero(t, topo.PublishedPorts[0].HostPort)
	topo.PublishedPorts[0].HostPort = 0
	require.Equal(t, []PublishedPort{{Device: "docker1", Container: "demo-app-1", HostIP: "127.0.0.1", ContainerPort: 80, Protocol: "tcp"}}, topo.PublishedPorts)
	golden.JSON(t, "recorded-topology", topo) // with HostPort zeroed, so re-recording does not change it
}

func TestParseDependsOn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []DependsOn
	}{
		{"", nil},
		{"db:service_healthy:false", []DependsOn{{Service: "db", Condition: "service_healthy"}}},
		{"db:service_started:true,cache:service_completed_successfully:false", []DependsOn{{"db", "service_started", true}, {"cache", "service_completed_successfully", false}}},
		{"db", []DependsOn{{Service: "db"}}},
		{" , :x:y,", nil},
	} {
		require.Equal(t, tc.want, ParseDependsOn(tc.in), tc.in)
	}
	long := ""
	for i := range MaxDependsOn + 10 {
		long += fmt.Sprintf("s%d:service_started:false,", i)
	}
	require.Len(t, ParseDependsOn(long), MaxDependsOn)
}

func ctr(name, project, service string, opts ...func(*Container)) Container {
	c := Container{Container: docker.Container{ID: fmt.Sprintf("%064x", len(name)*7919+int(name[0])), Name: name, State: docker.StateRunning, Health: docker.HealthNone, ComposeProject: project, ComposeService: service}}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func TestRelations(t *testing.T) {
	dependsOn := func(s string) func(*Container) { return func(c *Container) { c.DependsOn = ParseDependsOn(s) } }
	state := func(s docker.State, h docker.Health) func(*Container) {
		return func(c *Container) { c.State, c.Health = s, h }
	}
	nets := func(ns ...string) func(*Container) {
		return func(c *Container) {
			c.Networks = map[string]string{}
			for _, n := range ns {
				c.Networks[n] = ""
			}
		}
	}
	for _, tc := range []struct {
		name      string
		cs        []Container
		ask       string
		needs     []string
		neededBy  []string
		shares    []string
		unhealthy []string
	}{
		{
			name: "replicas of a dependency are all needed; unhealthy ones flagged",
			cs: []Container{
				ctr("web", "p", "web", dependsOn("api:service_healthy:false")),
				ctr("api-1", "p", "api"), ctr("api-2", "p", "api", state(docker.StateRunning, docker.HealthUnhealthy)),
				ctr("api-other", "q", "api"),
			},
			ask:      "web",
			needs:    []string{"api-1 depends_on service api (service_healthy)", "api-2 depends_on service api (service_healthy)"},
			neededBy: []string{}, shares: []string{},
			unhealthy: []string{"api-2"},
		},
		{
			name:     "a dependency that does not exist is missing",
			cs:       []Container{ctr("web", "p", "web", dependsOn("db:service_started:false"), func(c *Container) { c.NetworkMode = "container:gone"; c.Links = []Link{{Target: "old"}} })},
			ask:      "web",
			needs:    []string{"db depends_on service db (service_started)", "gone network_mode shares its network namespace", "old link link"},
			neededBy: []string{}, shares: []string{},
			unhealthy: []string{"db", "gone", "old"},
		},
		{
			name: "default bridge, host and none are not shared networks; user networks are",
			cs: []Container{
				ctr("a", "", "", nets("bridge", "host", "lan")), ctr("b", "", "", nets("bridge", "lan"), state(docker.StateExited, docker.HealthNone)),
				ctr("c", "", "", nets("bridge")),
			},
			ask:   "a",
			needs: []string{}, neededBy: []string{},
			shares:    []string{"b shared_network network lan"},
			unhealthy: []string{"b"},
		},
		{
			name: "named volumes and bind sources are shared, anonymous mounts are not",
			cs: []Container{
				ctr("a", "", "", func(c *Container) {
					c.Mounts = []docker.Mount{{Type: "volume", Name: "data"}, {Type: "bind", Source: "/var/run/docker.sock"}, {Type: "tmpfs", Destination: "/tmp"}}
				}),
				ctr("b", "", "", func(c *Container) {
					c.Mounts = []docker.Mount{{Type: "volume", Name: "data"}, {Type: "tmpfs", Destination: "/tmp"}}
				}),
				ctr("c", "", "", func(c *Container) { c.Mounts = []docker.Mount{{Type: "bind", Source: "/var/run/docker.sock"}} }),
			},
			ask: "a", needs: []string{}, neededBy: []string{},
			shares: []string{"b shared_volume volume data", "c shared_volume bind /var/run/docker.sock"},
		},
		{
			name: "needed by through network_mode by ID and a legacy link",
			cs: []Container{
				ctr("vpn", "", ""),
				ctr("torrent", "", "", func(c *Container) { c.NetworkMode = "container:" + ctr("vpn", "", "").ID }),
				ctr("ui", "", "", func(c *Container) { c.Links = []Link{{Target: "vpn", Alias: "gw"}} }),
			},
			ask: "vpn", needs: []string{}, shares: []string{},
			neededBy: []string{"torrent network_mode shares its network namespace", "ui link link as gw"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Analyze(tc.cs)
			require.NoError(t, err)
			d, err := g.For(tc.ask)
			require.NoError(t, err)
			require.Equal(t, tc.needs, names(d.Needs), "needs")
			require.Equal(t, tc.neededBy, names(d.NeededBy), "needed by")
			require.Equal(t, tc.shares, names(d.Shares), "shares")
			var bad []string
			for _, l := range [][]Relation{d.Needs, d.NeededBy, d.Shares} {
				for _, r := range l {
					if r.Unhealthy {
						bad = append(bad, r.Name)
					}
				}
			}
			require.Equal(t, tc.unhealthy, bad)
		})
	}
}

func TestLimits(t *testing.T) {
	var cs []Container
	for i := range MaxRelations + 20 {
		cs = append(cs, ctr(fmt.Sprintf("c%04d", i), "", "", func(c *Container) { c.Networks = map[string]string{"lan": ""} }))
	}
	g, err := Analyze(cs)
	require.NoError(t, err)
	d, err := g.For("c0000")
	require.NoError(t, err)
	require.Len(t, d.Shares, MaxRelations)
	require.True(t, d.Truncated)
	_, err = g.For("nope")
	require.ErrorContains(t, err, "nope")
	_, err = Analyze(make([]Container, MaxContainers+1))
	require.Error(t, err)
}

// TestSharedFixture reads a real container of the shared fixtures that runs in another container's network
// namespace (network_mode container:<id>) when the fixtures are present.
func TestSharedFixture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "docker", "watchtower__container_net_supplier.json"))
	if err != nil {
		t.Skip("shared fixtures not present")
	}
	cs, err := FromInspect(b)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.NotEmpty(t, cs[0].Name)
}

// TestInspectLimits: inspect output larger than MaxInputBytes, or with more than MaxContainers containers, is
// refused before it is decoded.
func TestInspectLimits(t *testing.T) {
	one := `{"Id":"0123456789ab","Created":"2024-01-01T00:00:00Z","State":{"Status":"running"}}`
	var b strings.Builder
	b.WriteString("[")
	for i := range MaxContainers + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(one)
	}
	b.WriteString("]")
	_, err := FromInspect([]byte(b.String()))
	require.ErrorContains(t, err, "containers")
	_, err = FromInspect([]byte("[" + strings.Repeat(" ", MaxInputBytes) + "]"))
	require.ErrorContains(t, err, "bytes")
}

// FuzzFromInspect: whatever the input, no panic, allocation proportional to it, fields and lists bounded, and
// the analysis of what parsed answers for every container.
func FuzzFromInspect(f *testing.F) {
	f.Add(recorded(f, "docker-containers-inspect.json"))
	f.Add([]byte(`[{"Id":"a","Created":"","HostConfig":{"NetworkMode":"container:a","Links":["/a:/a/x","bad"]},"Config":{"Labels":{"com.docker.compose.depends_on":"a:b:c,,"}}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var cs []Container
		var err error
		if a := malformed.Allocated(func() { cs, err = FromInspect(b) }); a > malformed.Bound(len(b), 64, 1<<20) {
			t.Fatalf("FromInspect allocated %d bytes for %d", a, len(b))
		}
		if err != nil {
			return
		}
		g, err := Analyze(cs)
		require.NoError(t, err)
		for _, c := range cs {
			require.LessOrEqual(t, len(c.DependsOn), MaxDependsOn)
			require.LessOrEqual(t, len(c.NetworkMode), maxFieldBytes)
			if c.Name == "" && c.ID == "" {
				continue
			}
			d, err := g.For(c.ID)
			require.NoError(t, err)
			require.LessOrEqual(t, len(d.Needs), MaxRelations)
		}
	})
}
