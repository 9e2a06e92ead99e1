package docker

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeBin makes a directory with a fake docker (and optionally docker-compose) that prints its argv NUL-separated
// on stdout, so a test can see exactly which words a command string delivered.
func fakeBin(t testing.TB, withCompose bool, composePlugin bool) string {
	t.Helper()
	dir := t.TempDir()
	docker := "#!/bin/sh\n"
	if !composePlugin {
		docker += "[ \"$1\" = compose ] && { echo \"docker: 'compose' is not a docker command.\" >&2; exit 1; }\n"
	}
	docker += "printf 'docker\\0'; for a in \"$@\"; do printf '%s\\0' \"$a\"; done\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker"), []byte(docker), 0o755))
	if withCompose {
		dc := "#!/bin/sh\nprintf 'docker-compose\\0'; printf 'cwd=%s\\0' \"$PWD\"; for a in \"$@\"; do printf '%s\\0' \"$a\"; done\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-compose"), []byte(dc), 0o755))
	}
	return dir
}

// shells are the shells the built commands are checked under; missing ones are skipped.
func shells(t testing.TB) []string {
	var out []string
	for _, s := range []string{"/bin/sh", "/bin/bash", "/usr/bin/zsh"} {
		if _, err := os.Stat(s); err == nil {
			out = append(out, s)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// argvVia runs cmd through shell -c with the fake bin dir first on PATH and returns the recorded argv.
func argvVia(t testing.TB, shell, bin, cmd string) ([]string, string, int) {
	t.Helper()
	return argvWithPath(t, shell, bin+":/usr/bin:/bin", cmd)
}

// argvWithPath is argvVia with the whole PATH given.
func argvWithPath(t testing.TB, shell, path, cmd string) ([]string, string, int) {
	t.Helper()
	c := exec.Command(shell, "-c", cmd)
	c.Env = []string{"PATH=" + path, "HOME=/nonexistent", "LC_ALL=C"}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%s -c %q: %v", shell, cmd, err)
		code = ee.ExitCode()
	}
	s := out.String()
	if s == "" {
		return nil, errb.String(), code
	}
	return strings.Split(strings.TrimSuffix(s, "\x00"), "\x00"), errb.String(), code
}

// mustCmd returns a func for wrapping builder calls in tables: mustCmd(t)(Stop("db", 1)).
func mustCmd(t testing.TB) func(string, error) string {
	return func(cmd string, err error) string {
		t.Helper()
		require.NoError(t, err)
		return cmd
	}
}

func TestCommands(t *testing.T) {
	bin := fakeBin(t, false, true)
	workdir := t.TempDir()
	must := mustCmd(t)
	for _, tc := range []struct {
		name string
		cmd  string
		text string // exact command string, "" to skip
		argv []string
	}{
		{"inventory", Inventory(), `docker ps -a --no-trunc --format '{{json .}}'`,
			[]string{"docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}"}},
		{"inspect", must(Inspect("web-1", "0123456789ab")), "docker inspect --type container -- web-1 0123456789ab",
			[]string{"docker", "inspect", "--type", "container", "--", "web-1", "0123456789ab"}},
		{"stats", Stats(), `docker stats --no-stream --no-trunc --format '{{json .}}'`,
			[]string{"docker", "stats", "--no-stream", "--no-trunc", "--format", "{{json .}}"}},
		{"start", must(Start("db")), "docker start -- db", []string{"docker", "start", "--", "db"}},
		{"stop", must(Stop("db", 30)), "docker stop -t 30 -- db", []string{"docker", "stop", "-t", "30", "--", "db"}},
		{"restart", must(Restart("db", 0)), "", []string{"docker", "restart", "-t", "0", "--", "db"}},
		{"pause", must(Pause("db")), "", []string{"docker", "pause", "--", "db"}},
		{"unpause", must(Unpause("db")), "", []string{"docker", "unpause", "--", "db"}},
		{"kill", must(Kill("db", "hup")), "", []string{"docker", "kill", "--signal", "SIGHUP", "--", "db"}},
		{"kill number", must(Kill("db", "9")), "", []string{"docker", "kill", "--signal", "9", "--", "db"}},
		{"rm", must(Remove("db", false, false)), "", []string{"docker", "rm", "--", "db"}},
		{"rm force volumes", must(Remove("db", true, true)), "", []string{"docker", "rm", "--force", "--volumes", "--", "db"}},
		{"logs default", must(Logs("db", LogOptions{})), "docker logs --timestamps --tail 200 -- db",
			[]string{"docker", "logs", "--timestamps", "--tail", "200", "--", "db"}},
		{"logs window", must(Logs("db", LogOptions{Tail: "all", Since: "2026-11-25T21:00:00+01:00", Until: "90s"})), "",
			[]string{"docker", "logs", "--timestamps", "--tail", "10000", "--since", "2026-11-25T20:00:00Z", "--until", "1m30s", "--", "db"}},
		{"logs unix", must(Logs("db", LogOptions{Tail: "5", Since: "1700000000.5"})), "",
			[]string{"docker", "logs", "--timestamps", "--tail", "5", "--since", "1700000000.5", "--", "db"}},
		{"compose up", must(ComposeUp("shop", workdir)), "",
			[]string{"docker", "compose", "-p", "shop", "--project-directory", workdir, "up", "--detach"}},
		{"compose down without dir", must(ComposeDown("shop", "")), "",
			[]string{"docker", "compose", "-p", "shop", "down"}},
		{"compose pull", must(ComposePull("shop", workdir)), "",
			[]string{"docker", "compose", "-p", "shop", "--project-directory", workdir, "pull"}},
		{"compose restart", must(ComposeRestart("shop", workdir)), "",
			[]string{"docker", "compose", "-p", "shop", "--project-directory", workdir, "restart"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text != "" {
				require.Equal(t, tc.text, tc.cmd)
			}
			for _, sh := range shells(t) {
				argv, stderr, code := argvVia(t, sh, bin, tc.cmd)
				require.Equal(t, 0, code, "%s: %s", sh, stderr)
				require.Equal(t, tc.argv, argv, sh)
			}
		})
	}
}

func TestComposeFallback(t *testing.T) {
	workdir := t.TempDir()
	must := mustCmd(t)
	cmd := must(ComposeUp("shop", workdir))

	argv, stderr, code := argvVia(t, "/bin/sh", fakeBin(t, true, false), cmd)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, []string{"docker-compose", "cwd=" + workdir, "-p", "shop", "--project-directory", workdir, "up", "--detach"}, argv)

	// Only the fake bin directory on PATH, so an installed docker-compose cannot be found.
	bare := fakeBin(t, false, false)
	require.NoError(t, os.Symlink("/bin/sh", filepath.Join(bare, "sh")))
	argv, stderr, code = argvWithPath(t, "/bin/sh", bare, cmd)
	require.Equal(t, 127, code, stderr)
	require.Nil(t, argv)
	require.Contains(t, stderr, "neither the docker compose plugin nor docker-compose")

	_, _, code = argvVia(t, "/bin/sh", fakeBin(t, false, true), must(ComposeUp("shop", workdir+"/missing")))
	require.Equal(t, 1, code, "a missing project directory must fail before compose runs")
}

func TestBuilderErrorsNameTheArgument(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		arg  string
	}{
		{"start dash", second(Start("-rm")), "ref"},
		{"start slash", second(Start("/web")), "ref"},
		{"stop timeout", second(Stop("db", -1)), "timeout"},
		{"restart timeout", second(Restart("db", MaxStopTimeout+1)), "timeout"},
		{"kill signal", second(Kill("db", "SIGFOO")), "signal"},
		{"kill signal number", second(Kill("db", "65")), "signal"},
		{"kill ref", second(Kill("a b", "TERM")), "ref"},
		{"rm ref", second(Remove("$(x)", true, false)), "ref"},
		{"inspect none", second(Inspect()), "refs"},
		{"inspect bad", second(Inspect("ok1", "no;pe")), "ref"},
		{"logs tail", second(Logs("db", LogOptions{Tail: "-1"})), "tail"},
		{"logs since", second(Logs("db", LogOptions{Since: "yesterday"})), "since"},
		{"logs until", second(Logs("db", LogOptions{Until: "-5m"})), "until"},
		{"compose project", second(ComposeUp("Shop", "/srv")), "project"},
		{"compose workdir relative", second(ComposeUp("shop", "srv")), "workdir"},
		{"compose workdir dotdot", second(ComposePull("shop", "/srv/../etc")), "workdir"},
		{"compose workdir newline", second(ComposeRestart("shop", "/srv\nx")), "workdir"},
		{"compose workdir required", second(ComposeUp("shop", "")), "workdir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.err, ErrInvalidArgument)
			var ae *ArgError
			require.ErrorAs(t, tc.err, &ae)
			require.Equal(t, tc.arg, ae.Arg)
			require.Contains(t, tc.err.Error(), tc.arg)
		})
	}
}

func second(_ string, err error) error { return err }

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":         "''",
		"abc":      "abc",
		"a b":      "'a b'",
		"it's":     `'it'\''s'`,
		"=x":       "'=x'",
		"~root":    "'~root'",
		"{{json}}": "'{{json}}'",
		"a/b:c,d":  "a/b:c,d",
		"$HOME":    "'$HOME'",
	} {
		require.Equal(t, want, ShellQuote(in), "%q", in)
	}
}

// FuzzCommandArgv proves that no argument can escape the quoting: for any input, either validation rejects it,
// or running the built command through real shells delivers exactly the intended argv to docker.
func FuzzCommandArgv(f *testing.F) {
	for _, s := range []string{"web-1", "a;rm -rf /", "$(id)", "`id`", "a\nb", "'", "\"", "--rm", "-f", "*", "a b",
		"abc'def", "x$IFS", "0123456789ab", "a.b_c-d", "..", "/etc", "~", "héllo", "a\x00b", "\\", "!!", "{a,b}"} {
		f.Add(s)
	}
	bin := fakeBin(f, false, true)
	root := f.TempDir()
	shs := shells(f)
	f.Fuzz(func(t *testing.T, s string) {
		type built struct {
			cmd  string
			argv []string
		}
		var cases []built
		if cmd, err := Stop(s, 5); err == nil {
			cases = append(cases, built{cmd, []string{"docker", "stop", "-t", "5", "--", s}})
		} else {
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Error(t, ValidRef(s))
		}
		if cmd, err := Kill("db", s); err == nil {
			sig, _ := NormalizeSignal(s)
			cases = append(cases, built{cmd, []string{"docker", "kill", "--signal", sig, "--", "db"}})
		}
		if cmd, err := Logs("db", LogOptions{Since: s, Tail: s}); err == nil {
			tail, _ := NormalizeTail(s)
			since, _ := NormalizeTime("since", s)
			argv := []string{"docker", "logs", "--timestamps", "--tail", itoa(tail)}
			if since != "" {
				argv = append(argv, "--since", since)
			}
			cases = append(cases, built{cmd, append(argv, "--", "db")})
		}
		if cmd, err := ComposeDown(s, ""); err == nil {
			cases = append(cases, built{cmd, []string{"docker", "compose", "-p", s, "down"}})
		}
		// Workdirs: the quoting must hold for any path the validator lets through; the directory has to exist
		// for the script's cd, so it is created under a temporary root.
		wd := root + "/" + s
		if ValidWorkdir(wd) == nil && len(wd) < 200 {
			if err := os.MkdirAll(wd, 0o755); err == nil {
				cmd, err := ComposeUp("shop", wd)
				require.NoError(t, err)
				cases = append(cases, built{cmd, []string{"docker", "compose", "-p", "shop", "--project-directory", wd, "up", "--detach"}})
			}
		}
		for _, c := range cases {
			for _, sh := range shs {
				argv, stderr, code := argvVia(t, sh, bin, c.cmd)
				require.Equal(t, 0, code, "%s -c %q: %s", sh, c.cmd, stderr)
				require.Equal(t, c.argv, argv, "%s -c %q", sh, c.cmd)
			}
		}
		// Refs that start with '-' are never accepted, whatever follows.
		if strings.HasPrefix(s, "-") {
			require.Error(t, ValidRef(s))
		}
		// ShellQuote alone must round-trip any string without NUL through sh.
		if !strings.Contains(s, "\x00") {
			argv, _, code := argvVia(t, "/bin/sh", bin, "docker "+ShellQuote(s))
			require.Equal(t, 0, code)
			require.Equal(t, []string{"docker", s}, argv)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
