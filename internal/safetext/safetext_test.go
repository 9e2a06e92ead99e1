package safetext

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in, want string
		max      int
		nl, cut  bool
	}{
		{"plain text", "plain text", 0, false, false},
		{"Grüße ✓", "Grüße ✓", 0, false, false},
		{"\x1b[31mred\x1b[0m", "red", 0, false, false},
		{"\x1b]0;evil title\x07after", "after", 0, false, false},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link", 0, false, false},
		{"\x1bPdcs\x1b\\ok", "ok", 0, false, false},
		{"\x1b(Bok", "ok", 0, false, false},
		{"\u009b31mred", "red", 0, false, false},
		{"bell\x07 nul\x00 del\x7f", "bell nul del", 0, false, false},
		{"a\tb\nc\r", "a b c", 0, false, false},
		{"a\tb\nc\r", "a\tb\nc", 0, true, false},
		{"bad \xff\xfe", "bad \uFFFD\uFFFD", 0, false, false},
		{"rtl \u202eevil", "rtl evil", 0, false, false},
		{"\x1b]unterminated\nnext", "\nnext", 0, true, false},
		{"ééé", "é", 3, false, true},
		{"abc", "abc", 3, false, false},
		{"abcd", "abc", 3, false, true},
	} {
		got, cut := String(c.in, c.max, c.nl)
		require.Equal(t, c.want, got, "%q", c.in)
		require.Equal(t, c.cut, cut, "%q", c.in)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[1;31mx", "\xff", "\u009b1m", "\x1b]0;t\x07", "é\x1b"} {
		f.Add([]byte(s), 5)
	}
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max %= 1 << 16
		s, _ := Clean(b, max, true)
		require.True(t, utf8.ValidString(s))
		if max > 0 {
			require.LessOrEqual(t, len(s), max)
		}
		require.LessOrEqual(t, len(s), 3*len(b))
		for _, r := range s {
			require.False(t, r == 0x1b || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0), "%U", r)
		}
	})
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exact", 5, "exact"},
		{"longer text", 6, "longer"},
		{"ééé", 3, "é"},                 // the cut would split the second é
		{"a€b", 3, "a"},                 // three-byte rune cut after its first two bytes
		{"€", 2, ""},                    // nothing whole fits
		{"\xff\xfe\xfd", 2, "\xff\xfe"}, // invalid bytes are single bytes, not cut sequences
		{"abc", 0, ""},
	} {
		got := Clip(c.in, c.max)
		require.Equal(t, c.want, got, "Clip(%q, %d)", c.in, c.max)
		require.LessOrEqual(t, len(got), max(c.max, 0))
	}
}

func TestClipError(t *testing.T) {
	require.NoError(t, ClipError(nil, 10))
	short := errors.New("short")
	require.Same(t, short, ClipError(short, 10))

	inner := fmt.Errorf("parse: %w", os.ErrNotExist)
	long := fmt.Errorf("device said %s: %w", strings.Repeat("é", 100), inner)
	got := ClipError(long, 21)
	require.Equal(t, "device said éééé...", got.Error(), "cut at a character boundary, marked with ...")
	require.ErrorIs(t, got, os.ErrNotExist, "errors.Is still sees the wrapped error")
	require.ErrorIs(t, got, inner)
}
