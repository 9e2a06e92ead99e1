package devicewrapper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/journal"
)

// hostileGreps are search texts journal.Query.Normalize accepts that would run something if they reached the
// shell unquoted.
var hostileGreps = []string{"$(touch PWNED)", "`touch PWNED`", "'; touch PWNED; '", "a'b", "x; touch PWNED", "|| touch PWNED #",
	"it's ${HOME} & *", "'", "''", "-e touch"}

// logQueries are system log searches as users give them: every filter, alone and together, and hostile search text.
func logQueries() []journal.Query {
	qs := []journal.Query{
		{},
		{Limit: 1},
		{Limit: journal.MaxLimit},
		{Unit: "nginx"},
		{Unit: "getty@tty1.service", Priority: "err"},
		{Unit: `dev-disk-by\x2duuid-1234.device`},
		{Priority: "debug", Limit: 7},
		{Priority: "0"},
		{Since: "2026-12-04T10:00:00Z"},
		{Until: "2026-12-04T10:00:00.5+01:00"},
		{Since: "1970-01-01T00:00:00Z", Until: "9999-12-31T23:59:59Z"},
		{Boot: "current"},
		{Boot: "-1"},
		{Boot: "-999"},
		{Boot: "0123456789ABCDEF0123456789abcdef"},
		{Boot: "01234567-89ab-cdef-0123-456789abcdef", Limit: 3},
		{Grep: "timeout"},
		{Grep: "connection refused", Limit: 5},
		{Grep: "grüße ✓"},
		{Grep: strings.Repeat("x'", journal.MaxGrep/2)},
		{Unit: "sshd", Priority: "warning", Since: "2026-12-04T10:00:00Z", Until: "2026-12-04T11:00:00Z", Grep: "Failed password", Boot: "-2", Limit: 50},
	}
	for _, g := range hostileGreps {
		qs = append(qs, journal.Query{Grep: g})
	}
	return qs
}

// logCommands are the system log searches and live tails the product sends (#12), all monitoring.
func logCommands(t *testing.T) map[string]bool {
	cmds := map[string]bool{}
	var filters []journal.Filter
	for _, q := range logQueries() {
		f, err := q.Normalize()
		require.NoError(t, err, "%+v", q)
		filters = append(filters, f)
		cmds[journal.Script(f)] = false
	}
	for _, f := range filters[:10] {
		cmds[journal.TailCommand(f, "")] = false
		cmds[journal.TailCommand(f, "s=0123abcd;i=1f;b=89ab;m=3e8;t=5f;x=deadbeef")] = false
	}
	for _, c := range containerFollowers(t) {
		cmds[c] = false
	}
	return cmds
}

// containerFollowers are live container log tails as activities/logtail.go builds them: the newest lines, or
// resuming at a time, directly or through a Docker socket proxy.
func containerFollowers(t *testing.T) []string {
	var out []string
	for _, ref := range []string{"web", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "db.1"} {
		for _, pos := range [][]string{{"--tail", "10"}, {"--since", time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.UTC).Format(time.RFC3339Nano)},
			{"--since", time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)}} {
			cmd := docker.Join(append(append([]string{"docker", "logs", "--follow", "--timestamps"}, pos...), "--", ref)...)
			for _, host := range []string{"", "tcp://127.0.0.1:2375", "unix:///run/docker-proxy.sock"} {
				full, err := docker.WithDockerHost(cmd, host)
				require.NoError(t, err)
				out = append(out, journal.FollowCommand(full))
			}
		}
	}
	return out
}

// TestWrapperLogCommands: searches and tails pass unchanged on every shell over both transports, read-only too;
// changed ones are refused.
func TestWrapperLogCommands(t *testing.T) {
	t.Parallel()
	w := dryWrapper(t)
	flt := func(q journal.Query) journal.Filter {
		f, err := q.Normalize()
		require.NoError(t, err)
		return f
	}
	plain := journal.Script(flt(journal.Query{}))
	grep := journal.Script(flt(journal.Query{Grep: "timeout", Limit: 5}))
	quoted := journal.Script(flt(journal.Query{Grep: "it's here"}))
	unit := journal.Script(flt(journal.Query{Unit: "nginx", Priority: "err"}))
	tail := journal.TailCommand(flt(journal.Query{Unit: "nginx"}), "")
	resume := journal.TailCommand(flt(journal.Query{}), "s=0123;i=1f")
	follow := containerFollowers(t)[0]
	proxied := containerFollowers(t)[1]
	hostile := map[string]string{
		"search plus":               plain + "id\n",
		"search before":             "id\n" + plain,
		"search other source":       strings.Replace(plain, "/var/log/syslog", "/etc/shadow", 2),
		"search other reader":       strings.Replace(plain, "tail -n 200 /var/log/syslog", "cat /var/log/syslog", 1),
		"search line count":         strings.Replace(plain, "tail -n 200 /var/log/syslog", "tail -n 300 /var/log/syslog", 1),
		"search leading zero":       strings.ReplaceAll(plain, " 200", " 0200"),
		"search over limit":         strings.ReplaceAll(plain, " 200", " 5001"),
		"search journalctl opt":     strings.Replace(plain, "-q -n 200", "-q --file=/etc/shadow -n 200", 1),
		"search output":             strings.Replace(plain, "-o json", "-o verbose", 1),
		"search option order":       strings.Replace(unit, "-u nginx.service -p 3", "-p 3 -u nginx.service", 1),
		"search bad unit":           strings.Replace(unit, "nginx.service", "nginx.exe", 1),
		"search unit subst":         strings.Replace(unit, "nginx.service", "'$(id).service'", 1),
		"search unit injection":     strings.Replace(unit, "nginx.service", "nginx.service; id;", 1),
		"search priority":           strings.Replace(unit, "-p 3", "-p 8", 1),
		"search since":              strings.Replace(plain, "-q -n", "-q --since 2026-12-04 -n", 1),
		"search boot":               strings.Replace(plain, "-q -n", "-q --boot=1 -n", 1),
		"search filtered count":     strings.ReplaceAll(unit, " 50000", " 200"),
		"search grep unquoted":      strings.Replace(quoted, "'it'\\''s here'", "it's here", 1),
		"search grep open quote":    strings.Replace(quoted, "'it'\\''s here'", "'it's here'", -1),
		"search grep subst":         strings.ReplaceAll(grep, "timeout", "$(id)"),
		"search grep backticks":     strings.ReplaceAll(grep, "timeout", "`id`"),
		"search grep semicolon":     strings.ReplaceAll(grep, "timeout", "x;id"),
		"search grep newline":       strings.ReplaceAll(grep, "timeout", "'a\nid'"),
		"search grep double quote":  strings.ReplaceAll(grep, "timeout", "'a\"b'"),
		"search grep backslash":     strings.ReplaceAll(grep, "timeout", "'a\\b'"),
		"search grep needless":      strings.ReplaceAll(grep, "timeout", "'timeout'"),
		"search grep too long":      strings.ReplaceAll(grep, "timeout", strings.Repeat("x", journal.MaxGrep+1)),
		"search grep differs":       strings.Replace(grep, "timeout", "other", 1),
		"search grep missing":       strings.Replace(grep, " | grep -F -i -e timeout | head", " | head", 1),
		"search grep count":         strings.Replace(grep, "tail -n 5 |", "tail -n 50000 |", 1),
		"search grep regexp":        strings.ReplaceAll(grep, "grep -F -i", "grep -E -i"),
		"tail plus":                 tail + "\nid",
		"tail followers differ":     strings.Replace(tail, "nginx.service", "ssh.service", 1),
		"tail other follower":       strings.ReplaceAll(tail, "journalctl -f", "tail -f /etc/shadow"),
		"tail not following":        strings.ReplaceAll(tail, "journalctl -f", "journalctl"),
		"tail context":              strings.ReplaceAll(tail, "-n 10", "-n 100000"),
		"tail cursor subst":         strings.ReplaceAll(resume, "s=0123;i=1f", "$(id)"),
		"tail cursor space":         strings.ReplaceAll(resume, "s=0123;i=1f", "s=0 --file=/x"),
		"tail shell":                strings.ReplaceAll(tail, "journalctl -f -o json --all --no-pager -q -u nginx.service -n 10", "sh -c id"),
		"tail injection":            strings.ReplaceAll(tail, "-n 10", "-n 10; id"),
		"tail docker host":          strings.ReplaceAll(tail, "journalctl -f", "env 'DOCKER_HOST=tcp://h:1' journalctl -f"),
		"follow exec":               strings.ReplaceAll(follow, "logs --follow", "exec"),
		"follow details":            strings.ReplaceAll(follow, "--timestamps", "--timestamps --details"),
		"follow tail count":         strings.ReplaceAll(follow, "--tail 10", "--tail 11"),
		"follow bad ref":            strings.ReplaceAll(follow, "-- web", "-- --privileged"),
		"follow two refs":           strings.ReplaceAll(follow, "-- web", "-- web db"),
		"follow host injection":     strings.ReplaceAll(proxied, "tcp://127.0.0.1:2375", "tcp://h:1;id"),
		"follow no timeout":         strings.Replace(follow, "exec timeout 3600 ", "exec ", 1),
		"search behind docker host": "env 'DOCKER_HOST=tcp://127.0.0.1:2375' " + plain,
		"tail behind docker host":   "env 'DOCKER_HOST=tcp://127.0.0.1:2375' " + tail,
	}
	allowed := logCommands(t)
	for name, cmd := range hostile {
		require.NotContains(t, allowed, cmd, "%s: the mutation must change the command", name)
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			for name, cmd := range hostile {
				for _, tr := range []struct{ original, stdin string }{{"sh -s", frame(cmd)}, {cmd, ""}} {
					o := runWrapper(t, sh.path, w, tr.original, tr.stdin)
					require.Equal(t, RefusedExitCode, o.code, "%s: %s not refused: ran %q", sh.name, name, o.ran)
					require.Empty(t, o.ran)
					require.Contains(t, o.log, "refused (", "%s: %s", sh.name, name)
				}
			}
		})
	}
}

// TestWrapperSearchTextIsInert: a search with hostile text that the wrapper lets through runs, on every shell,
// with the text as one argument of grep and nothing else: no file appears, and grep receives it verbatim.
func TestWrapperSearchTextIsInert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	// A device without journald or syslog files but with busybox logread: the search reads its lines through
	// grep, which records its arguments, one per line.
	args := filepath.Join(dir, "grep-args")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "grep"),
		[]byte("#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done >'"+args+"'\ncat >/dev/null\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "logread"), []byte("#!/bin/sh\necho 'Dec  4 10:00:00 host app: hello'\n"), 0o755))
	s := Script()
	wrapper := filepath.Join(dir, "wrapper")
	require.NoError(t, os.WriteFile(wrapper, []byte(s), 0o755))
	for _, sh := range shells {
		for _, g := range hostileGreps {
			f, err := journal.Query{Grep: g}.Normalize()
			require.NoError(t, err)
			script := journal.Script(f)
			_ = os.Remove(args)
			argv := []string{wrapper}
			if sh.name == "busybox" {
				argv = append([]string{"sh"}, argv...)
			}
			cmd := exec.Command(sh.path, argv...)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "SSH_ORIGINAL_COMMAND=sh -s", "HOME=" + dir}
			cmd.Stdin = strings.NewReader(frame(script))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: %q: %s", sh.name, g, out)
			require.Contains(t, string(out), "@@infra:end@@")
			b, err := os.ReadFile(args)
			require.NoError(t, err, "%s: grep ran", sh.name)
			require.Equal(t, "-F\n-i\n-e\n"+g+"\n", string(b), "%s: grep got the text as one word", sh.name)
			require.NoFileExists(t, filepath.Join(dir, "PWNED"), "%s: %q ran something", sh.name, g)
		}
	}
}
