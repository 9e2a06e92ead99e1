package hub

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
		{"device." + devA + ".logs", ""},
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
