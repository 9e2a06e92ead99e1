package docker

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidRef(t *testing.T) {
	for _, ok := range []string{"web-1", "db", "a.b_c-d", "0123456789ab", strings.Repeat("f", 64), "My.App"} {
		require.NoError(t, ValidRef(ok), ok)
	}
	for _, bad := range []string{"", "a", "-rm", "--force", "/web", ".hidden", "_x", "a b", "a;b", "a/b", "$(x)",
		"a\nb", "é1", strings.Repeat("a", MaxRefLen+1)} {
		require.ErrorIs(t, ValidRef(bad), ErrInvalidArgument, "%q", bad)
	}
}

func TestValidID(t *testing.T) {
	require.NoError(t, ValidID("0123456789ab"))
	require.NoError(t, ValidID(strings.Repeat("a", 64)))
	for _, bad := range []string{"0123456789a", strings.Repeat("a", 65), "0123456789AB", "0123456789ag"} {
		require.Error(t, ValidID(bad), bad)
	}
}

func TestValidProject(t *testing.T) {
	for _, ok := range []string{"shop", "my_app-2", "0"} {
		require.NoError(t, ValidProject(ok), ok)
	}
	for _, bad := range []string{"", "Shop", "-x", "_x", "a.b", "a b"} {
		require.Error(t, ValidProject(bad), bad)
	}
}

func TestNormalizeSignal(t *testing.T) {
	for in, want := range map[string]string{"TERM": "SIGTERM", "sigkill": "SIGKILL", "SIGHUP": "SIGHUP", "usr1": "SIGUSR1",
		"Int": "SIGINT", "QUIT": "SIGQUIT", "USR2": "SIGUSR2", "1": "1", "64": "64", "09": "9"} {
		got, err := NormalizeSignal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "65", "-9", "SIG", "SIGFOO", "TERM;", "1e3"} {
		_, err := NormalizeSignal(bad)
		require.Error(t, err, bad)
	}
}

func TestValidTimeout(t *testing.T) {
	require.NoError(t, ValidTimeout(0))
	require.NoError(t, ValidTimeout(MaxStopTimeout))
	require.Error(t, ValidTimeout(-1))
	require.Error(t, ValidTimeout(MaxStopTimeout+1))
}

func TestNormalizeTail(t *testing.T) {
	for in, want := range map[string]int{"": DefaultLogTail, "all": MaxLogTail, "0": 0, "50": 50, "99999999": MaxLogTail} {
		got, err := NormalizeTail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"-1", "ALL", "1.5", "ten", "99999999999999999999"} {
		_, err := NormalizeTail(bad)
		require.Error(t, err, bad)
	}
}

func TestNormalizeTime(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"2026-11-25T21:00:00+01:00": "2026-11-25T20:00:00Z",
		"2026-11-25T20:00:00.5Z":    "2026-11-25T20:00:00.5Z",
		"1700000000":                "1700000000",
		"1700000000.123456789":      "1700000000.123456789",
		"10m":                       "10m0s",
		"1h30m":                     "1h30m0s",
	} {
		got, err := NormalizeTime("since", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"yesterday", "-5m", "0s", "1700000000.", "2026-11-25", "0001-01-01T00:00:00Z",
		"200000h", "1700000000.1234567890", "10m; rm -rf /"} {
		_, err := NormalizeTime("since", bad)
		require.Error(t, err, bad)
	}
}

func TestValidWorkdir(t *testing.T) {
	for _, ok := range []string{"/", "/srv/shop", "/srv/my shop", "/srv/$(x)", "/srv/a;b|c&d", "/srv/(x)!"} {
		require.NoError(t, ValidWorkdir(ok), ok)
	}
	for _, bad := range []string{"", "srv", "/srv/", "/srv/../etc", "/srv//x", "/srv/./x", "/a\nb", "/a\x00b", "/a\xffb",
		"/srv/it's", `/srv/x\'; touch /tmp/pwned; #`, `/srv/a\b`, "/a\rb", "/a\tb"} {
		err := ValidWorkdir(bad)
		var ae *ArgError
		require.ErrorAs(t, err, &ae, "%q", bad)
		require.Equal(t, "workdir", ae.Arg, "the error names the field")
	}
}
