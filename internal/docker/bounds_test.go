package docker

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// allocatedBy returns the bytes allocated while fn runs. The tests that use it are not parallel, so the figure
// is fn's own allocation plus noise from the runtime.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Allocation allowed to a parser: allocPerInputByte times the input plus allocFixed. Measured over the fuzz
// corpus and the malformed inputs of TestFault*Malformed with a wide margin; what the bound catches is growth
// faster than the input (the port-range expansion allocated about 500 KB per input byte).
const (
	allocPerInputByte = 40
	allocFixed        = 256 << 10
)

func allocBound(inputLen int) uint64 { return uint64(allocPerInputByte*inputLen + allocFixed) }

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
	alloc := allocatedBy(func() { cs, err = ParsePS(in) })
	require.NoError(t, err)
	require.Len(t, cs, 1)
	t.Logf("allocated %d bytes for %d bytes of input", alloc, len(in))
	require.LessOrEqual(t, alloc, allocBound(len(in)), "allocated %d bytes for %d bytes of input", alloc, len(in))
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
