package journal

import (
	"regexp"
	"strconv"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Bounds of a live tail (#12).
const (
	// TailContext is how many of the newest entries a fresh tail shows before following.
	TailContext = 10
	// TailSessionSeconds bounds one follower on the device: a session the product lost track of (a worker that
	// died) ends by itself. A tail that runs longer starts a new follower from its cursor.
	TailSessionSeconds = 3600
)

// MaxCursor bounds a journald cursor in bytes.
const MaxCursor = 1024

// cursorPattern is what journald's cursors are made of ("s=…;i=…;b=…;m=…;t=…;x=…").
var cursorPattern = regexp.MustCompile(`^[A-Za-z0-9=;_-]+$`)

// ValidCursor reports whether c looks like a journald cursor, so a resume point read back from anywhere can only
// ever be one.
func ValidCursor(c string) bool { return len(c) <= MaxCursor && cursorPattern.MatchString(c) }

// TailArgs returns the journalctl arguments of a live tail with f's unit and priority (grep is applied by the
// reader, since a pipe through grep would buffer), resuming after cursor or, without one, starting with the
// newest TailContext entries.
func TailArgs(f Filter, cursor string) []string {
	// --all: without it journalctl prints fields over 4096 bytes as null, so a long message would arrive empty;
	// the reader bounds each line instead.
	args := []string{"-f", "-o", "json", "--all", "--no-pager", "-q"}
	if f.Unit != "" {
		args = append(args, "-u", f.Unit)
	}
	if f.Priority >= 0 {
		args = append(args, "-p", strconv.Itoa(f.Priority))
	}
	if cursor != "" && ValidCursor(cursor) {
		return append(args, "--after-cursor="+cursor)
	}
	return append(args, "-n", strconv.Itoa(TailContext))
}

// TailCommand returns the sh script of a live journald tail (see TailArgs). The follower replaces the shell
// (exec), so ending the session ends it, and runs under timeout(1) where the device has it (TailSessionSeconds).
func TailCommand(f Filter, cursor string) string {
	return tailScript("journalctl " + docker.Join(TailArgs(f, cursor)...))
}

// tailScript wraps a follower command: the usual environment, exec, and the session bound.
func tailScript(cmd string) string {
	n := strconv.Itoa(TailSessionSeconds)
	return "export LC_ALL=C\nPATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin\n" +
		"if command -v timeout >/dev/null 2>&1; then exec timeout " + n + " " + cmd + "; else exec " + cmd + "; fi"
}

// FollowCommand wraps any follower command (docker logs -f) the way TailCommand wraps journalctl.
func FollowCommand(cmd string) string { return tailScript(cmd) }
