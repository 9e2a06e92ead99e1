package hub

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/journal"
)

const (
	devA = "0b7e4b1c-6f1d-4c55-9a59-2f0f6f3c1a10"
	devB = "9d4e1a2b-1111-4222-8333-444455556666"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means invalid
	}{
		{"operations", "operations"},
		{"events", "events"},
		{"device." + devA + ".metrics", "device." + devA + ".metrics"},
		{"device." + devA + ".status", "device." + devA + ".status"},
		{"device." + devA + ".containers", "device." + devA + ".containers"},
		{"device." + strings.ToUpper(devA) + ".status", "device." + devA + ".status"},
		{"device.*.status", "device.*.status"},
		{"device." + devA + ".*", "device." + devA + ".*"},
		{"device.*.*", "device.*.*"},
		{"", ""},
		{"*", ""},
		{"alerts.x", ""},
		{"Operations", ""},
		{"device", ""},
		{"device.*", ""},
		{"device.*.status.extra", ""},
		{"device..status", ""},
		{"device.not-a-uuid.status", ""},
		{"device." + strings.ReplaceAll(devA, "-", "") + ".status", ""}, // only the canonical dashed form
		{"device.{" + devA + "}.status", ""},
		{"device.urn:uuid:" + devA + ".status", ""},
		{"device." + devA + ".logs", "device." + devA + ".logs"},
		{"device." + strings.ToUpper(devA) + ".logs?unit=nginx&priority=err", "device." + devA + ".logs?priority=3&unit=nginx.service"},
		{"device." + devA + ".logs?grep=a.b+c", "device." + devA + ".logs?grep=a.b+c"},
		{"device." + devA + ".logs?unit=a%20b", ""},
		{"device." + devA + ".logs?since=2026-01-01T00:00:00Z", ""},
		{"device." + devA + ".logs?priority=loud", ""},
		{"device." + devA + ".logs?unit=a&unit=b", ""},
		{"device.*.logs", ""},
		{"device." + devA + ".containers.web.v2.logs", "device." + devA + ".containers.web.v2.logs"},
		{"device." + devA + ".containers.-x.logs", ""},
		{"device." + devA + ".containers..logs", ""},
		{"device." + devA + ".containers.a;b.logs", ""},
		{"device.*.containers.web.logs", ""},
		{"device." + devA + ".", ""},
		{"devices." + devA + ".status", ""},
		{"device.**.status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePattern(tt.in)
			if tt.want == "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), "topic")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, p.String())
			again, err := ParsePattern(p.String())
			require.NoError(t, err)
			require.Equal(t, p, again, "the canonical form parses to the same pattern")
		})
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	topics := []string{
		"device." + devA + ".metrics", "device." + devA + ".status", "device." + devA + ".containers",
		"device." + devB + ".status", "operations", "events",
	}
	tests := []struct {
		pattern string
		match   []string
	}{
		{"device." + devA + ".metrics", []string{"device." + devA + ".metrics"}},
		{"device." + devA + ".status", []string{"device." + devA + ".status"}},
		{"device.*.status", []string{"device." + devA + ".status", "device." + devB + ".status"}},
		{"device." + devA + ".*", []string{"device." + devA + ".metrics", "device." + devA + ".status", "device." + devA + ".containers"}},
		{"device.*.*", topics[:4]},
		{"operations", []string{"operations"}},
		{"events", []string{"events"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			require.NoError(t, err)
			var got []string
			for _, s := range topics {
				topic, err := ParseTopic(s)
				require.NoError(t, err)
				if p.Match(topic) {
					got = append(got, s)
				}
			}
			require.Equal(t, tt.match, got)
		})
	}
	require.False(t, Pattern{}.Match(Topic{}), "the zero pattern matches nothing")
	require.False(t, Pattern{}.Match(mustTopic(t, "events")))
}

func TestParseTopicRejectsWildcards(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"device.*.status", "device." + devA + ".*", "device.*.*", "device.x.status", ""} {
		_, err := ParseTopic(s)
		require.Error(t, err, s)
	}
}

// FuzzParsePattern: whatever parses has a canonical form that parses to the same pattern and matches the same.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"events", "device.*.status", "device." + devA + ".*", "device." + strings.ToUpper(devB) + ".metrics", "device..x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			return
		}
		again, err := ParsePattern(p.String())
		require.NoError(t, err)
		require.Equal(t, p, again)
		if topic, err := ParseTopic(s); err == nil {
			require.True(t, p.Match(topic), "a concrete topic matches itself")
		}
	})
}

func mustTopic(t *testing.T, s string) Topic {
	t.Helper()
	topic, err := ParseTopic(s)
	require.NoError(t, err)
	return topic
}

// TestLogTopicsMatchOnlyThemselves: a log topic reaches only the clients that named it with the same filters;
// wildcards, which would start tails nobody asked for, never match it (#12).
func TestLogTopicsMatchOnlyThemselves(t *testing.T) {
	t.Parallel()
	mustP := func(s string) Pattern {
		p, err := ParsePattern(s)
		require.NoError(t, err)
		return p
	}
	logs := "device." + devA + ".logs?priority=3&unit=nginx.service"
	topic, err := ParseTopic(logs)
	require.NoError(t, err)
	require.True(t, mustP("device."+devA+".logs?unit=nginx.service&priority=err").Match(topic))
	require.False(t, mustP("device."+devA+".logs").Match(topic))
	require.False(t, mustP("device."+devA+".logs?unit=nginx.service").Match(topic))
	require.False(t, mustP("device."+devA+".*").Match(topic))
	require.False(t, mustP("device.*.*").Match(topic))
	ctr, err := ParseTopic("device." + devA + ".containers.web.logs")
	require.NoError(t, err)
	require.True(t, mustP("device."+devA+".containers.web.logs").Match(ctr))
	require.False(t, mustP("device."+devA+".containers").Match(ctr))
	require.False(t, mustP("device."+devA+".containers.db.logs").Match(ctr))
	src, ok := mustP(logs).LogSource()
	require.True(t, ok)
	require.Equal(t, LogSource{DeviceID: devA, Query: journalQuery("nginx.service", "3", "")}, src)
	_, ok = mustP("device." + devA + ".metrics").LogSource()
	require.False(t, ok)
}

func journalQuery(unit, priority, grep string) journal.Query {
	return journal.Query{Unit: unit, Priority: priority, Grep: grep}
}
