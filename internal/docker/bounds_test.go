package docker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
)

// Allocation allowed to a parser: allocPerInputByte times the input plus allocFixed. Measured over the fuzz
// corpus and the malformed inputs of TestFault*Malformed (with and without -race): at most about 62 bytes per
// input byte (inspect JSON of many tiny objects: each becomes a decoded struct and a Container) and 110 KB for
// small inputs; the bound doubles the first and takes ten times the second. What it catches is growth faster
// than the input: the port-range expansion allocated about 500 KB per input byte.
const (
	allocPerInputByte = 128
	allocFixed        = 1 << 20
)

// psLineWithPorts is one docker ps line whose Ports column repeats entry n times.
func psLineWithPorts(entry string, n int) []byte {
	ports := strings.TrimSuffix(strings.Repeat(entry+", ", n), ", ")
	return fmt.Appendf(nil, `{"ID":"abc","Names":"x","State":"running","Ports":%q}`+"\n", ports)
}

// TestParsePSPortRangesStayRanges is the port-range blow-up (#15): a device that prints full-range port
// mappings must not make the parser expand them one entry per port. About 10 KB of such text used to allocate
// gigabytes (4 entries already took 70 MB).
func TestParsePSPortRangesStayRanges(t *testing.T) {
	const entry = "0.0.0.0:1-65535->1-65535/tcp"
	n := 10 << 10 / (len(entry) + 2)
	in := psLineWithPorts(entry, n)
	var cs []Container
	var err error
	alloc := malformed.Allocated(func() { cs, err = ParsePS(in) })
	require.NoError(t, err)
	require.Len(t, cs, 1)
	t.Logf("allocated %d bytes for %d bytes of input", alloc, len(in))
	require.LessOrEqual(t, alloc, malformed.Bound(len(in), allocPerInputByte, allocFixed), "allocated %d bytes for %d bytes of input", alloc, len(in))
	require.Len(t, cs[0].Ports, n, "a range is one entry")
	require.Equal(t, Port{HostIP: "0.0.0.0", HostPort: 1, HostPortEnd: 65535, ContainerPort: 1, ContainerPortEnd: 65535, Protocol: "tcp"}, cs[0].Ports[0])
}

func TestPortString(t *testing.T) {
	for _, tc := range []struct {
		p    Port
		want string
	}{
		{Port{ContainerPort: 9000, Protocol: "tcp"}, "9000/tcp"},
		{Port{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, "0.0.0.0:8080->80/tcp"},
		{Port{HostIP: "::", HostPort: 53, ContainerPort: 53, Protocol: "udp"}, "[::]:53->53/udp"},
		{Port{HostIP: "0.0.0.0", HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, ContainerPortEnd: 90, Protocol: "tcp"},
			"0.0.0.0:8000-8010->80-90/tcp"},
		{Port{ContainerPort: 0, ContainerPortEnd: 65535, Protocol: "udp"}, "0-65535/udp"},
	} {
		require.Equal(t, tc.want, tc.p.String())
		// What String prints, ParsePS reads back.
		got, more, err := parsePSPorts(tc.p.String())
		require.NoError(t, err)
		require.False(t, more)
		require.Equal(t, []Port{tc.p}, got)
	}
}

// TestPortJSON pins the stored shape: a single port has no *_end fields, so records written before ranges
// existed read back unchanged.
func TestPortJSON(t *testing.T) {
	b, err := json.Marshal([]Port{
		{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: "0.0.0.0", HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, ContainerPortEnd: 90, Protocol: "tcp"},
	})
	require.NoError(t, err)
	require.JSONEq(t, `[{"host_ip":"0.0.0.0","host_port":8080,"container_port":80,"protocol":"tcp"},
		{"host_ip":"0.0.0.0","host_port":8000,"host_port_end":8010,"container_port":80,"container_port_end":90,"protocol":"tcp"}]`, string(b))
	var old []Port
	require.NoError(t, json.Unmarshal([]byte(`[{"host_ip":"::","host_port":53,"container_port":53,"protocol":"udp"}]`), &old))
	require.Equal(t, []Port{{HostIP: "::", HostPort: 53, ContainerPort: 53, Protocol: "udp"}}, old)
}

// TestParseInspectFoldsPortRanges: the Engine lists each port of a published range on its own; inspect must
// give the same ranges docker ps shows, also for a full-range mapping.
func TestParseInspectFoldsPortRanges(t *testing.T) {
	ports := map[string]any{"9000/tcp": nil, "53/udp": []map[string]string{{"HostIp": "0.0.0.0", "HostPort": "53"}}}
	for i := 0; i < 3; i++ {
		ports[fmt.Sprintf("%d/tcp", 80+i)] = []map[string]string{
			{"HostIp": "0.0.0.0", "HostPort": fmt.Sprint(8000 + i)}, {"HostIp": "::", "HostPort": fmt.Sprint(8000 + i)}}
	}
	for p := 0; p <= 65535; p++ {
		ports[fmt.Sprintf("%d/sctp", p)] = nil
	}
	in, err := json.Marshal([]any{map[string]any{"Id": "abc", "NetworkSettings": map[string]any{"Ports": ports}}})
	require.NoError(t, err)
	cs, err := ParseInspect(in)
	require.NoError(t, err)
	require.Equal(t, []Port{
		{ContainerPort: 0, ContainerPortEnd: 65535, Protocol: "sctp"},
		{HostIP: "0.0.0.0", HostPort: 53, ContainerPort: 53, Protocol: "udp"},
		{HostIP: "0.0.0.0", HostPort: 8000, HostPortEnd: 8002, ContainerPort: 80, ContainerPortEnd: 82, Protocol: "tcp"},
		{HostIP: "::", HostPort: 8000, HostPortEnd: 8002, ContainerPort: 80, ContainerPortEnd: 82, Protocol: "tcp"},
		{ContainerPort: 9000, Protocol: "tcp"},
	}, cs[0].Ports)
	require.Empty(t, cs[0].Truncated)
}

// portEntryPattern is the regular expression matchPortEntry replaces; FuzzMatchPortEntry keeps them equal.
var portEntryPattern = regexp.MustCompile(`^(?:(.*):(\d+)(?:-(\d+))?->)?(\d+)(?:-(\d+))?/([a-z]+)$`)

func FuzzMatchPortEntry(f *testing.F) {
	for _, s := range []string{"80/tcp", "0.0.0.0:8000-8001->80-81/tcp", "[::]:53->53/udp", "a:b->1/tcp", "1-/tcp",
		"x->y:1->2/tcp", ":1->2/tcp", "1/", "1/TCP", "0.0.0.0:1->2->3/tcp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		m, ok := matchPortEntry(e)
		want := portEntryPattern.FindStringSubmatch(e)
		require.Equal(t, want != nil, ok, "%q", e)
		if ok {
			require.Equal(t, want[1:], m[1:], "%q", e)
		}
	})
}

func TestExitCodeFromStatus(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   int
		ok     bool
	}{
		{"Exited (0) 3 days ago", 0, true}, {"Exited (137) 1 second ago", 137, true}, {"Exited (-1) now", -1, true},
		{"Exited () x", 0, false}, {"Exited (1", 0, false}, {"Up 2 hours", 0, false}, {"Exited (1a)", 0, false},
	} {
		code, ok := exitCodeFromStatus(tc.status)
		require.Equal(t, tc.ok, ok, tc.status)
		require.Equal(t, tc.code, code, tc.status)
	}
}

// TestParsePSLabelContinuationIsLinear: a label value with many commas (each piece a continuation of the value)
// used to be re-concatenated per comma, quadratic in its length (#15).
func TestParsePSLabelContinuationIsLinear(t *testing.T) {
	in := fmt.Appendf(nil, `{"ID":"abc","Labels":%q}`, "a=x"+strings.Repeat(",y", 50000))
	var cs []Container
	var err error
	alloc := malformed.Allocated(func() { cs, err = ParsePS(in) })
	require.NoError(t, err)
	require.LessOrEqual(t, alloc, malformed.Bound(len(in), allocPerInputByte, allocFixed), "allocated %d bytes for %d bytes of input", alloc, len(in))
	require.Len(t, cs[0].Labels["a"], MaxFieldBytes)
	require.Equal(t, []string{TruncatedText}, cs[0].Truncated)
}

func listOf(n int, format string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(items, ",")
}

// TestParsePSCutsAtLimits: per-container lists and strings are cut to their limits and the cut is named.
func TestParsePSCutsAtLimits(t *testing.T) {
	line, err := json.Marshal(map[string]string{
		"ID": "abc", "Names": strings.Repeat("n", MaxFieldBytes+10),
		"Ports":    listOf(MaxPortsPerContainer+5, "%d/tcp"),
		"Labels":   listOf(MaxLabelsPerContainer+5, "k%d=v"),
		"Mounts":   listOf(MaxMountsPerContainer+5, "vol%d"),
		"Networks": listOf(MaxNetworksPerContainer+5, "net%d"),
	})
	require.NoError(t, err)
	cs, err := ParsePS(line)
	require.NoError(t, err)
	c := cs[0]
	require.Len(t, c.Name, MaxFieldBytes)
	require.Len(t, c.Ports, MaxPortsPerContainer)
	require.Len(t, c.Labels, MaxLabelsPerContainer)
	require.Len(t, c.Mounts, MaxMountsPerContainer)
	require.Len(t, c.Networks, MaxNetworksPerContainer)
	require.ElementsMatch(t, []string{TruncatedText, TruncatedPorts, TruncatedLabels, TruncatedMounts, TruncatedNetworks}, c.Truncated)
}

// TestParseInspectCutsAtLimits is the same for docker inspect, whose maps are cut keeping the first keys in
// sorted order so the result does not change from poll to poll.
func TestParseInspectCutsAtLimits(t *testing.T) {
	labels := map[string]string{}
	for i := range MaxLabelsPerContainer + 5 {
		labels[fmt.Sprintf("k%04d", i)] = "v"
	}
	nets := map[string]any{}
	for i := range MaxNetworksPerContainer + 5 {
		nets[fmt.Sprintf("n%04d", i)] = map[string]string{"IPAddress": "10.0.0.1"}
	}
	ports := map[string]any{}
	for i := range MaxPortsPerContainer + 5 {
		ports[fmt.Sprintf("%d/tcp", 2*i)] = nil // not consecutive: no range folds them
	}
	in, err := json.Marshal(map[string]any{"Id": "abc", "Config": map[string]any{"Labels": labels},
		"NetworkSettings": map[string]any{"Ports": ports, "Networks": nets}})
	require.NoError(t, err)
	cs, err := ParseInspect(in)
	require.NoError(t, err)
	c := cs[0]
	require.Len(t, c.Labels, MaxLabelsPerContainer)
	require.Contains(t, c.Labels, "k0000")
	require.NotContains(t, c.Labels, fmt.Sprintf("k%04d", MaxLabelsPerContainer))
	require.Len(t, c.Networks, MaxNetworksPerContainer)
	require.Len(t, c.Ports, MaxPortsPerContainer)
	require.Equal(t, 0, c.Ports[0].ContainerPort)
	require.ElementsMatch(t, []string{TruncatedPorts, TruncatedLabels, TruncatedNetworks}, c.Truncated)
}

// TestParseTooManyContainers: more containers than MaxContainers fail the parse (a partial inventory would
// read as removed containers), and an absurd ID is refused rather than cut.
func TestParseTooManyContainers(t *testing.T) {
	ps := strings.Repeat(`{"ID":"a"}`+"\n", MaxContainers+1)
	_, err := ParsePS([]byte(ps))
	require.ErrorIs(t, err, ErrLimit)
	_, err = ParseStats([]byte(strings.Repeat(`{"ID":"a"}`+"\n", MaxContainers+1)))
	require.ErrorIs(t, err, ErrLimit)
	_, err = ParseInspect([]byte("[" + strings.TrimSuffix(strings.Repeat(`{"Id":"a"},`, MaxContainers+1), ",") + "]"))
	require.ErrorIs(t, err, ErrLimit)
	_, err = ParseCgroupStats([]byte(strings.Repeat("@container a 1 bridge\n", MaxContainers+1)))
	require.ErrorIs(t, err, ErrLimit)
	_, err = ParsePS([]byte(`{"ID":"` + strings.Repeat("a", maxIDBytes+1) + `"}`))
	require.ErrorContains(t, err, "ID longer than")
}
