package netinfo

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	record = flag.Bool("record", false, "rewrite testdata/recorded from the real ip and docker on this machine")
)

func writeRecorded(t *testing.T, name string, b []byte) {
	t.Helper()
	if !*record {
		return
	}
	require.NoError(t, os.MkdirAll(filepath.Join("testdata", "recorded"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "recorded", name), b, 0o644))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

// TestRealNamespace builds a network namespace with a bridge, a veth pair (one end in the bridge), IPv4 and IPv6
// addresses and a default route, runs the unmodified Script inside it with the real ip, and checks the parse.
func TestRealNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	ns := fmt.Sprintf("infra-net-%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"link", "add", "br-test", "type", "bridge"},
		{"link", "add", "veth0", "mtu", "1400", "type", "veth", "peer", "name", "veth1", "mtu", "1400"},
		{"link", "set", "veth1", "master", "br-test"},
		{"link", "set", "veth0", "address", "02:00:00:00:00:01"},
		{"link", "set", "br-test", "address", "02:00:00:00:00:02"},
		{"addr", "add", "192.168.77.1/24", "dev", "br-test"},
		{"addr", "add", "fd00:77::1/64", "dev", "br-test", "nodad"},
		{"addr", "add", "10.9.0.2/30", "dev", "veth0"},
		{"link", "set", "lo", "up"},
		{"link", "set", "br-test", "up"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
		{"route", "add", "default", "via", "10.9.0.1", "dev", "veth0"},
		{"-6", "route", "add", "default", "via", "fd00:77::fe", "dev", "br-test"},
	} {
		run(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-s")
	cmd.Stdin = strings.NewReader(Script())
	out, err := cmd.Output()
	require.NoError(t, err)
	h, err := Parse(out)
	require.NoError(t, err)
	require.Empty(t, h.Errors)
	byName := map[string]Interface{}
	for _, it := range h.Interfaces {
		byName[it.Name] = it
	}
	require.Equal(t, "bridge", byName["br-test"].Kind)
	require.Equal(t, "veth", byName["veth0"].Kind)
	require.Equal(t, "br-test", byName["veth1"].Master)
	require.Equal(t, 1400, byName["veth0"].MTU)
	require.Equal(t, "02:00:00:00:00:01", byName["veth0"].MAC)
	require.True(t, byName["veth0"].Up)
	require.Contains(t, byName["br-test"].Addresses, Address{Family: "inet", CIDR: "192.168.77.1/24", Scope: "global"})
	require.Contains(t, byName["br-test"].Addresses, Address{Family: "inet6", CIDR: "fd00:77::1/64", Scope: "global"})
	require.Equal(t, []Route{{Family: "inet", Gateway: "10.9.0.1", Dev: "veth0"}, {Family: "inet6", Gateway: "fd00:77::fe", Dev: "br-test", Metric: 1024}}, h.DefaultRoutes)
	require.Equal(t, []string{"10.9.0.0/30", "192.168.77.0/24", "fd00:77::/64"}, h.Subnets())
	writeRecorded(t, "netns-bridge-veth.txt", out)
}

// TestRealDockerNetworks creates two user networks (one dual-stack) and containers on them on the real test
// engine, runs DockerNetworksScript with sh, and checks the parse. Under -record it also records the network
// and container inspect output that the deps package's tests read.
func TestRealDockerNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Docker engine")
	}
	e := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	e.Docker(t, "network", "create", "--label", "com.docker.compose.project=demo", "--subnet", "172.30.1.0/24", "--gateway", "172.30.1.1", "demo_front")
	e.Docker(t, "network", "create", "--label", "com.docker.compose.project=demo", "--ipv6", "--subnet", "172.30.2.0/24", "--subnet", "fd00:30:2::/64", "demo_back")
	e.Docker(t, "volume", "create", "demo_data")
	t.Cleanup(func() {
		_, _ = e.TryDocker(nil, "rm", "-f", "demo-sidecar-1", "demo-app-1", "demo-db-1")
		_, _ = e.TryDocker(nil, "network", "rm", "demo_front", "demo_back")
		_, _ = e.TryDocker(nil, "volume", "rm", "demo_data")
	})
	labels := func(svc, dependsOn string) []string {
		l := []string{"--label", "com.docker.compose.project=demo", "--label", "com.docker.compose.service=" + svc,
			"--label", "com.docker.compose.project.working_dir=/srv/demo"}
		if dependsOn != "" {
			l = append(l, "--label", "com.docker.compose.depends_on="+dependsOn)
		}
		return l
	}
	dbArgs := append([]string{"run", "-d", "--name", "demo-db-1", "--network", "demo_back", "--network-alias", "db", "-v", "demo_data:/data"}, labels("db", "")...)
	e.Docker(t, append(dbArgs, img, "sleep", "1000")...)
	appArgs := append([]string{"run", "-d", "--name", "demo-app-1", "--network", "demo_back", "--link", "demo-db-1:database", "-v", "demo_data:/data:ro", "-v", "/srv/demo/conf:/conf:ro", "-p", "127.0.0.1::80"}, labels("app", "db:service_started:false")...)
	e.Docker(t, append(appArgs, img, "sleep", "1000")...)
	e.Docker(t, "network", "connect", "demo_front", "demo-app-1")
	sideArgs := append([]string{"run", "-d", "--name", "demo-sidecar-1", "--network", "container:demo-app-1", "-v", "/srv/demo/conf:/conf:ro"}, labels("sidecar", "app:service_started:true,db:service_healthy:false")...)
	e.Docker(t, append(sideArgs, img, "sleep", "1000")...)

	cmd := exec.Command("sh", "-s")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.Host, "DOCKER_CONTEXT=")
	cmd.Stdin = strings.NewReader(DockerNetworksScript())
	out, err := cmd.Output()
	require.NoError(t, err)
	nets, trunc, err := ParseDockerNetworks(out)
	require.NoError(t, err)
	require.False(t, trunc)
	byName := map[string]DockerNetwork{}
	for _, n := range nets {
		byName[n.Name] = n
	}
	require.Equal(t, []DockerSubnet{{Subnet: "172.30.1.0/24", Gateway: "172.30.1.1"}}, byName["demo_front"].Subnets)
	require.Equal(t, "demo", byName["demo_front"].ComposeProject)
	back := byName["demo_back"]
	require.True(t, back.EnableIPv6)
	require.Len(t, back.Containers, 2)
	require.Equal(t, "demo-app-1", back.Containers[0].Name)
	require.Equal(t, "172.30.2.0/24", SubnetOf(back.Containers[0].IPv4))
	require.Equal(t, "fd00:30:2::/64", SubnetOf(back.Containers[0].IPv6))
	require.Len(t, byName["demo_front"].Containers, 1)

	ls := e.Docker(t, "network", "ls", "--no-trunc", "--format", "{{json .}}")
	sums, _, err := ParseDockerNetworkLS([]byte(ls))
	require.NoError(t, err)
	require.Len(t, sums, len(nets))

	writeRecorded(t, "docker-network-inspect.json", out)
	writeRecorded(t, "docker-network-ls.txt", []byte(ls+"\n"))
	writeRecorded(t, "docker-containers-inspect.json", []byte(e.Docker(t, "inspect", "--type", "container", "demo-db-1", "demo-app-1", "demo-sidecar-1")+"\n"))
}

func TestGolden(t *testing.T) {
	for name, parse := range map[string]func([]byte) (any, error){
		"netns-bridge-veth.txt":       func(b []byte) (any, error) { return Parse(b) },
		"docker-network-inspect.json": func(b []byte) (any, error) { v, _, err := ParseDockerNetworks(b); return v, err },
		"docker-network-ls.txt":       func(b []byte) (any, error) { v, _, err := ParseDockerNetworkLS(b); return v, err },
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "recorded", name))
		require.NoError(t, err)
		v, err := parse(b)
		require.NoError(t, err, name)
		golden.JSON(t, strings.TrimSuffix(strings.TrimSuffix(name, ".txt"), ".json"), v)
	}
}

func TestParseErrors(t *testing.T) {
	h, err := Parse([]byte("@@infra-net begin addr\nOption \"-j\" is unknown, try \"ip -help\".\n@@infra-net end addr 255\n"))
	require.NoError(t, err)
	require.Equal(t, []string{`addr: Option "-j" is unknown, try "ip -help".`}, h.Errors)
	_, err = Parse([]byte("sh: ip: not found\n"))
	require.Error(t, err)
	_, _, err = ParseInterfaces(bytes.Repeat([]byte(" "), MaxInputBytes+1))
	require.ErrorIs(t, err, ErrLimit)
	ifs, _, err := ParseInterfaces([]byte(`[{"ifname":"x","addr_info":[{"family":"inet","local":"10.0.0.1","prefixlen":99},{"family":"inet","local":"bogus","prefixlen":8}]}]`))
	require.NoError(t, err)
	require.Empty(t, ifs[0].Addresses, "invalid addresses are dropped")
}

func TestLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("[")
	for i := range MaxInterfaces + 3 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ifname":"veth%d%s","mtu":1500}`, i, strings.Repeat("x", MaxFieldBytes))
	}
	b.WriteString("]")
	ifs, trunc, err := ParseInterfaces(b.Bytes())
	require.NoError(t, err)
	require.True(t, trunc)
	require.Len(t, ifs, MaxInterfaces)
	require.Len(t, ifs[0].Name, MaxFieldBytes)
}

func checkAll(t testing.TB, b []byte) {
	// encoding/json allocates a few times its input for maps and strings; the bound is per input byte.
	bound := malformed.Bound(len(b), 64, 1<<20)
	check := func(name string, fn func()) {
		if a := malformed.Allocated(fn); a > bound {
			t.Fatalf("%s allocated %d bytes for %d bytes of input", name, a, len(b))
		}
	}
	var h *Host
	var err error
	check("Parse", func() { h, err = Parse(b) })
	if err == nil {
		require.LessOrEqual(t, len(h.Interfaces), MaxInterfaces)
		require.LessOrEqual(t, len(h.DefaultRoutes), 2*MaxRoutes)
		for _, it := range h.Interfaces {
			require.LessOrEqual(t, len(it.Addresses), MaxAddresses)
			for _, s := range []string{it.Name, it.Kind, it.MAC, it.Master, it.OperState} {
				require.LessOrEqual(t, len(s), MaxFieldBytes)
			}
		}
	}
	var nets []DockerNetwork
	check("ParseDockerNetworks", func() { nets, _, err = ParseDockerNetworks(b) })
	require.LessOrEqual(t, len(nets), MaxNetworks)
	for _, n := range nets {
		require.LessOrEqual(t, len(n.Containers), MaxAttached)
		for _, c := range n.Containers {
			for _, s := range []string{c.ID, c.Name, c.IPv4, c.IPv6, c.MAC} {
				require.LessOrEqual(t, len(s), MaxFieldBytes)
			}
		}
	}
	var sums []DockerNetworkSummary
	check("ParseDockerNetworkLS", func() { sums, _, _ = ParseDockerNetworkLS(b) })
	require.LessOrEqual(t, len(sums), MaxNetworks)
}

func seeds(t testing.TB) [][]byte {
	var out [][]byte
	entries, err := os.ReadDir(filepath.Join("testdata", "recorded"))
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "recorded", e.Name()))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func FuzzParsers(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAll(t, b) })
}

func TestFaultMalformed(t *testing.T) {
	ss := seeds(t)
	r := rand.New(rand.NewPCG(5, 6))
	hostile := [][]byte{[]byte("\x00"), []byte(`{"ifname":"` + strings.Repeat("z", 3000) + `"}`), []byte("@@infra-net end addr 0\n"), []byte("[[[[[[[[[["), []byte(`,"addr_info":[{"local":"::1","prefixlen":128}]`)}
	for range 1000 {
		b := bytes.Clone(ss[r.IntN(len(ss))])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			j := i + r.IntN(min(len(b)-i, 256)+1)
			switch r.IntN(4) {
			case 0:
				b = b[:i]
			case 1:
				b = append(b[:i:i], b[j:]...)
			case 2:
				b = append(append(b[:i:i], bytes.Repeat(b[i:j], 1+r.IntN(64))...), b[i:]...)
			case 3:
				b = append(append(b[:i:i], hostile[r.IntN(len(hostile))]...), b[j:]...)
			}
		}
		checkAll(t, b)
	}
}
