package sshpool

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// posixShells are the programs a device's sh may be; missing ones are skipped.
func posixShells(t testing.TB) [][]string {
	var out [][]string
	for _, sh := range [][]string{{"/bin/dash"}, {"/bin/bash", "--posix"}, {"/bin/busybox", "ash"}} {
		if _, err := os.Stat(sh[0]); err == nil {
			out = append(out, sh)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// runScript feeds script to `sh -s` as the device's sshd would and returns stdout, stderr and the exit status.
func runScript(t testing.TB, sh []string, script []byte) (string, string, int) {
	t.Helper()
	c := exec.Command(sh[0], append(sh[1:], "-s")...)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	c.Stdin = bytes.NewReader(script)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

func TestScriptRoundTrip(t *testing.T) {
	for _, cmd := range []string{"", "true", "echo a\necho b", "cat <<'E'\n}\nE", docker.Probe()} {
		got, ok := ParseScript(Script(cmd))
		require.True(t, ok)
		require.Equal(t, cmd, got)
	}
	for _, bad := range []string{"", "{\n", "echo hi", "{\necho hi\n}\n", "\n} </dev/null\n"} {
		_, ok := ParseScript([]byte(bad))
		require.False(t, ok, "%q", bad)
	}
}

// TestFaultHostileInputTruncatedScript cuts a script short at every byte, as a dropped link would, and checks
// that sh runs either all of it or none of it: a prefix of `rm -- web_1` must never run as `rm -- web`.
func TestFaultHostileInputTruncatedScript(t *testing.T) {
	cmd := "echo first\n" + docker.Join("echo", "second", "it's") + "\necho third"
	full := Script(cmd)
	for _, sh := range posixShells(t) {
		want, _, code := runScript(t, sh, full)
		require.Equal(t, 0, code)
		require.Equal(t, "first\nsecond it's\nthird\n", want)
		for n := 0; n < len(full); n++ {
			out, _, _ := runScript(t, sh, full[:n])
			if out == want {
				// Only a cut after the group's closing brace may run it, and then all of it.
				require.GreaterOrEqual(t, n, len(scriptHead)+len(cmd)+2, "%v ran a script cut at %d of %d", sh, n, len(full))
				continue
			}
			require.Empty(t, out, "%v ran part of a script cut at %d: %q", sh, n, full[:n])
		}
	}
}

// FuzzShellQuote sends any string (without NUL, which no argv can hold) as a quoted argument through the whole
// path a device sees, Script on the standard input of `sh -s`, and checks that printf receives it unchanged
// under each sh a device may have.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", `\'`, "a\nb", "}", "\n}\n", "$(id)", "`id`", "!!", "(x)", "{a,b}",
		"*", "~", "%self", "=ls", "a\\", "'\"'", "\r\n", "é", "\xff"} {
		f.Add(s)
	}
	shs := posixShells(f)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "\x00") {
			t.Skip("an argument cannot contain NUL")
		}
		script := Script(docker.Join("printf", "%s", s))
		for _, sh := range shs {
			out, stderr, code := runScript(t, sh, script)
			require.Equal(t, 0, code, "%v: %s", sh, stderr)
			require.Equal(t, s, out, "%v", sh)
		}
	})
}
