package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

type relationView struct {
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
	State     string `json:"state"`
	Unhealthy bool   `json:"unhealthy"`
	Missing   bool   `json:"missing"`
}

// TestServiceDependencies: a compose-style project on the real test engine (containers labelled as docker compose
// v2.17+ labels them, with depends_on; the engine here has no compose v2, so the labels are set with docker run),
// on two user networks with a shared volume, a legacy link and a sidecar in the app's network namespace. After the
// poll the dependencies come from the stored inventory alone; a dependency that stops shows as unhealthy. The
// device's Docker networks come from the network collector.
func TestServiceDependencies(t *testing.T) {
	engine := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	p := testenv.ContainerName(t, "dep")
	name := func(s string) string { return p + "-" + s + "-1" }
	front, back, vol := p+"_front", p+"_back", p+"_data"
	t.Cleanup(func() {
		_, _ = engine.TryDocker(nil, "rm", "-f", name("sidecar"), name("app"), name("db"))
		_, _ = engine.TryDocker(nil, "network", "rm", front, back)
		_, _ = engine.TryDocker(nil, "volume", "rm", vol)
	})
	engine.Docker(t, "network", "create", "--label", "com.docker.compose.project="+p, "--subnet", "172.31.91.0/24", front)
	engine.Docker(t, "network", "create", "--label", "com.docker.compose.project="+p, "--subnet", "172.31.92.0/24", back)
	engine.Docker(t, "volume", "create", vol)
	labels := func(svc, dependsOn string) []string {
		l := []string{"--label", "com.docker.compose.project=" + p, "--label", "com.docker.compose.service=" + svc}
		if dependsOn != "" {
			l = append(l, "--label", "com.docker.compose.depends_on="+dependsOn)
		}
		return l
	}
	run := func(args ...string) { engine.Docker(t, append([]string{"run", "-d"}, args...)...) }
	run(append(append([]string{"--name", name("db"), "--network", back, "-v", vol + ":/data"}, labels("db", "")...), img, "sleep", "1000")...)
	run(append(append([]string{"--name", name("app"), "--network", back, "--link", name("db") + ":database", "-v", vol + ":/data:ro",
		"-p", "127.0.0.1::80"}, labels("app", "db:service_started:false")...), img, "sleep", "1000")...)
	engine.Docker(t, "network", "connect", front, name("app"))
	run(append(append([]string{"--name", name("sidecar"), "--network", "container:" + name("app")},
		labels("sidecar", "app:service_started:true")...), img, "sleep", "1000")...)

	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	s := startStack(t, []ssh.Signer{sshd.ClientSigner})
	dev := s.createDevice("deps", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	base := "/api/v1/devices/" + dev.ID.String()

	var deps struct {
		Container string         `json:"container"`
		Needs     []relationView `json:"needs"`
		NeededBy  []relationView `json:"needed_by"`
		Shares    []relationView `json:"shares"`
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, s.do("GET", base+"/containers/"+name("app")+"/dependencies", nil, &deps))
		require.Len(c, deps.NeededBy, 2)
	}, 90*time.Second, 250*time.Millisecond, "the poll stores the project")
	require.Equal(t, []relationView{
		{Name: name("db"), Reason: "depends_on", Detail: "service db (service_started)", State: "running"},
		{Name: name("db"), Reason: "link", Detail: "link as database", State: "running"},
	}, deps.Needs)
	require.Equal(t, []relationView{
		{Name: name("sidecar"), Reason: "depends_on", Detail: "service app (service_started)", State: "running"},
		{Name: name("sidecar"), Reason: "network_mode", Detail: "shares its network namespace", State: "running"},
	}, deps.NeededBy)
	require.Contains(t, deps.Shares, relationView{Name: name("db"), Reason: "shared_volume", Detail: "volume " + vol, State: "running"})
	require.Contains(t, deps.Shares, relationView{Name: name("db"), Reason: "shared_network", Detail: "network " + back, State: "running"})

	// The database stops: the app's needs show it unhealthy after the next poll.
	engine.Docker(t, "stop", "-t", "0", name("db"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, s.do("GET", base+"/containers/"+name("app")+"/dependencies", nil, &deps))
		require.NotEmpty(c, deps.Needs)
		require.True(c, deps.Needs[0].Unhealthy)
		require.Equal(c, "exited", deps.Needs[0].State)
	}, 90*time.Second, 250*time.Millisecond)

	var nets struct {
		Docker bool `json:"docker"`
		Items  []struct {
			Name       string `json:"name"`
			Containers []struct {
				Name string `json:"name"`
			} `json:"containers"`
		} `json:"items"`
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, s.do("GET", base+"/docker-networks", nil, &nets))
		require.True(c, nets.Docker)
	}, 90*time.Second, 250*time.Millisecond)
	found := false
	for _, n := range nets.Items {
		if n.Name == front {
			found = true
			require.Len(t, n.Containers, 1)
			require.Equal(t, name("app"), n.Containers[0].Name)
		}
	}
	require.True(t, found, "network %s listed", front)
}
