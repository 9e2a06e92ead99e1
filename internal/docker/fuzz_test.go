package docker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// The fuzz targets and the TestFault*Malformed tests check every docker parser the same way (#15): whatever the
// input, no panic, every list within its limit, every string within MaxFieldBytes, and allocation at most
// allocPerInputByte per input byte plus allocFixed. The fuzz targets run their seed corpus (recorded outputs,
// shared fixtures, testdata/fuzz) in plain go test; the fault tests feed 10,000 mutations of the same seeds.

// faultInputs is how many malformed inputs each TestFault*Malformed test feeds.
const faultInputs = 10000

// parserCheck is one parser under test: its seeds, a call of the parser (the part whose allocation is measured)
// and a check of what it returned.
type parserCheck struct {
	seeds [][]byte
	parse func(b []byte) (any, error)
	check func(t testing.TB, v any)
}

func recorded(tb testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "recorded", name))
	require.NoError(tb, err)
	return b
}

func inspectSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		recorded(tb, "inspect.out"),
		[]byte(`[{"Id":"a","NetworkSettings":{"Ports":{"80/tcp":null,"81/tcp":[{"HostIp":"0.0.0.0","HostPort":"8081"}]}}}]`),
	}
	if fx, ok := testenv.OptionalFixturesDir(tb); ok {
		entries, _ := os.ReadDir(filepath.Join(fx, "docker"))
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(fx, "docker", e.Name())); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

func checkContainers(t testing.TB, cs []Container) {
	t.Helper()
	require.LessOrEqual(t, len(cs), MaxContainers)
	for _, c := range cs {
		malformed.CheckText(t, "ID", c.ID, maxIDBytes)
		for what, s := range map[string]string{"name": c.Name, "image": c.Image, "image ID": c.ImageID,
			"command": c.Command, "status": c.Status, "state": string(c.State), "health": string(c.Health)} {
			malformed.CheckText(t, what, s, MaxFieldBytes)
		}
		require.LessOrEqual(t, len(c.Ports), MaxPortsPerContainer)
		for _, p := range c.Ports {
			malformed.CheckText(t, "host IP", p.HostIP, MaxFieldBytes)
			malformed.CheckText(t, "protocol", p.Protocol, MaxFieldBytes)
			for _, n := range []int{p.HostPort, p.HostPortEnd, p.ContainerPort, p.ContainerPortEnd} {
				require.True(t, n >= 0 && n <= 65535, "port %d", n)
			}
			require.True(t, p.ContainerPortEnd == 0 || p.ContainerPortEnd > p.ContainerPort, "range %+v", p)
			require.True(t, p.HostPortEnd == 0 || p.HostPortEnd-p.HostPort == p.ContainerPortEnd-p.ContainerPort, "range %+v", p)
		}
		require.LessOrEqual(t, len(c.Mounts), MaxMountsPerContainer)
		for _, m := range c.Mounts {
			for _, s := range []string{m.Type, m.Name, m.Source, m.Destination} {
				malformed.CheckText(t, "mount", s, MaxFieldBytes)
			}
		}
		require.LessOrEqual(t, len(c.Networks), MaxNetworksPerContainer)
		for k, v := range c.Networks {
			malformed.CheckText(t, "network", k, MaxFieldBytes)
			malformed.CheckText(t, "network address", v, MaxFieldBytes)
		}
		require.LessOrEqual(t, len(c.Labels), MaxLabelsPerContainer)
		for k, v := range c.Labels {
			malformed.CheckText(t, "label key", k, MaxFieldBytes)
			malformed.CheckText(t, "label value", v, MaxFieldBytes)
		}
	}
}

var dockerParsers = map[string]func(tb testing.TB) parserCheck{
	"ParsePS": func(tb testing.TB) parserCheck {
		return parserCheck{
			seeds: [][]byte{
				recorded(tb, "inventory.out"),
				[]byte(`{"ID":"a","Ports":"1.2.3.4:1-2->3-4/tcp, [::]:53->53/udp, 0-65535/tcp","Labels":"x=1,y,z=a=b","Mounts":"v,/b","Networks":"n1,n2"}`),
			},
			parse: func(b []byte) (any, error) { return ParsePS(b) },
			check: func(t testing.TB, v any) { checkContainers(t, v.([]Container)) },
		}
	},
	"ParseInspect": func(tb testing.TB) parserCheck {
		return parserCheck{
			seeds: inspectSeeds(tb),
			parse: func(b []byte) (any, error) { return ParseInspect(b) },
			check: func(t testing.TB, v any) { checkContainers(t, v.([]Container)) },
		}
	},
	"ParseStats": func(tb testing.TB) parserCheck {
		return parserCheck{
			seeds: [][]byte{
				recorded(tb, "stats.out"),
				[]byte(`{"ID":"a","CPUPerc":"1.5%","MemUsage":"1KiB / 2GiB","NetIO":"1kB / 2MB","BlockIO":"-- / --","PIDs":"3"}`),
			},
			parse: func(b []byte) (any, error) { return ParseStats(b) },
			check: func(t testing.TB, v any) {
				ss := v.([]StatsSample)
				require.LessOrEqual(t, len(ss), MaxContainers)
				for _, s := range ss {
					malformed.CheckText(t, "ID", s.ID, maxIDBytes)
					malformed.CheckText(t, "name", s.Name, MaxFieldBytes)
				}
			},
		}
	},
	"ParseCgroupStats": func(tb testing.TB) parserCheck {
		return parserCheck{
			seeds: [][]byte{
				recorded(tb, "cgroup.out"),
				[]byte("@uptime 1 2\n@cgroup 2\n@container a 1 x\n@file io.stat\n8:0 rbytes=1 wbytes=2\n@file net/dev\n eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
			},
			parse: func(b []byte) (any, error) { return ParseCgroupStats(b) },
			check: func(t testing.TB, v any) {
				s := v.(*CgroupSnapshot)
				require.LessOrEqual(t, len(s.Containers), MaxContainers)
				for _, c := range s.Containers {
					malformed.CheckText(t, "ID", c.ID, maxIDBytes)
					malformed.CheckText(t, "network mode", c.NetworkMode, MaxFieldBytes)
					require.LessOrEqual(t, len(c.Networks), MaxNetworksPerContainer)
					for k := range c.Networks {
						malformed.CheckText(t, "interface", k, MaxFieldBytes)
					}
				}
			},
		}
	},
	"ClassifyProbe": func(tb testing.TB) parserCheck {
		return parserCheck{
			seeds: [][]byte{recorded(tb, "probe.out"), recorded(tb, "probe.err")},
			parse: func(b []byte) (any, error) { return ClassifyProbe(b, b, len(b)%130), nil },
			check: func(t testing.TB, v any) {
				a := v.(Availability)
				for _, s := range []string{a.ClientVersion, a.ServerVersion, a.APIVersion} {
					malformed.CheckText(t, "version", s, MaxFieldBytes)
				}
				malformed.CheckText(t, "detail", a.Detail, 300)
			},
		}
	},
}

// checkBounded runs the parser on b, fails when it allocated more than the allocation bound, and checks what it
// returned.
func checkBounded(t testing.TB, pc parserCheck, b []byte) {
	t.Helper()
	var v any
	var err error
	alloc := malformed.Allocated(func() { v, err = pc.parse(b) })
	if alloc > malformed.Bound(len(b), allocPerInputByte, allocFixed) {
		t.Fatalf("allocated %d bytes for %d bytes of input (bound %d); input starts %q", alloc, len(b), malformed.Bound(len(b), allocPerInputByte, allocFixed),
			clipString(string(b), 200))
	}
	if err != nil {
		malformed.CheckText(t, "error", err.Error(), maxErrorBytes+len("..."))
		return
	}
	pc.check(t, v)
}

func fuzzParser(f *testing.F, name string) {
	pc := dockerParsers[name](f)
	for _, s := range pc.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkBounded(t, pc, b) })
}

// FuzzParsePS checks ParsePS's bounds (see checkBounded).
func FuzzParsePS(f *testing.F) { fuzzParser(f, "ParsePS") }

// FuzzParseInspect checks ParseInspect's bounds.
func FuzzParseInspect(f *testing.F) { fuzzParser(f, "ParseInspect") }

// FuzzParseStats checks ParseStats's bounds.
func FuzzParseStats(f *testing.F) { fuzzParser(f, "ParseStats") }

// FuzzParseCgroupStats checks ParseCgroupStats's bounds.
func FuzzParseCgroupStats(f *testing.F) { fuzzParser(f, "ParseCgroupStats") }

// FuzzClassifyProbe checks ClassifyProbe's bounds.
func FuzzClassifyProbe(f *testing.F) { fuzzParser(f, "ClassifyProbe") }

func faultMalformed(t *testing.T, name string, seed uint64) {
	pc := dockerParsers[name](t)
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on malformed input %d of seed %d (malformed.Inputs replays it)", cur, seed)
		}
	})
	for i, b := range malformed.Inputs(pc.seeds, faultInputs, seed) {
		cur = i
		checkBounded(t, pc, b)
	}
}

// TestFaultParsePSMalformed is the fault-matrix row "10,000 malformed outputs per parser" for ParsePS.
func TestFaultParsePSMalformed(t *testing.T) { faultMalformed(t, "ParsePS", 1) }

// TestFaultParseInspectMalformed is the same for ParseInspect.
func TestFaultParseInspectMalformed(t *testing.T) { faultMalformed(t, "ParseInspect", 2) }

// TestFaultParseStatsMalformed is the same for ParseStats.
func TestFaultParseStatsMalformed(t *testing.T) { faultMalformed(t, "ParseStats", 3) }

// TestFaultParseCgroupStatsMalformed is the same for ParseCgroupStats.
func TestFaultParseCgroupStatsMalformed(t *testing.T) { faultMalformed(t, "ParseCgroupStats", 4) }

// TestFaultClassifyProbeMalformed is the same for ClassifyProbe.
func TestFaultClassifyProbeMalformed(t *testing.T) { faultMalformed(t, "ClassifyProbe", 5) }
