package journal

import (
	"strconv"
	"strings"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Bounds of what a search script prints.
const (
	// MaxOutputBytes caps the log lines a script prints (`head -c`); a result that reaches it is truncated.
	MaxOutputBytes = 4 << 20
	// ScanLines is how many of the newest entries or lines a script reads when filtering on the device does
	// not already stop at Limit matches: grep on journald, and every filter on the plain-text fallbacks (those
	// are applied by the parser). Matches older than this are not found: this bounds the work on the device.
	ScanLines = 50000
)

// Sources a search can answer from. The script prints which one it used.
const (
	SourceJournald = "journald"
	SourceSyslog   = "syslog"   // /var/log/syslog (Debian, Ubuntu)
	SourceMessages = "messages" // /var/log/messages (RHEL, Alpine with syslogd)
	SourceLogread  = "logread"  // busybox syslogd's in-memory ring buffer
	SourceNone     = "none"
)

// Marker lines. The header is the first line of the output, the end marker the last; nothing between them is
// read as a marker, so a log message cannot forge one.
const (
	headerPrefix = "@@infra:source:"
	endMarker    = "@@infra:end@@"
)

// JournalctlArgs returns the journalctl argument vector for f (without the program name), -o json, newest
// f.Limit entries (or ScanLines when grep narrows them afterwards). Times are given as "@<unix seconds>" so
// the device's time zone does not matter; they are widened to whole seconds and the parser applies the exact
// bounds.
func JournalctlArgs(f Filter) []string {
	// --all: without it journalctl prints fields over 4096 bytes as null, and a long message would come back empty;
	// the parser bounds lines and messages instead (MaxLineBytes, MaxMessageBytes).
	args := []string{"-o", "json", "--all", "--no-pager", "-q"}
	if f.Unit != "" {
		args = append(args, "-u", f.Unit)
	}
	if f.Priority >= 0 {
		args = append(args, "-p", strconv.Itoa(f.Priority))
	}
	if !f.Since.IsZero() {
		args = append(args, "--since", "@"+strconv.FormatInt(f.Since.Unix(), 10))
	}
	if !f.Until.IsZero() {
		u := f.Until.Unix()
		if f.Until.Nanosecond() != 0 {
			u++
		}
		args = append(args, "--until", "@"+strconv.FormatInt(u, 10))
	}
	if f.Boot != "" {
		// "-b=-1" keeps a negative offset from being read as an option.
		args = append(args, "--boot="+f.Boot)
	}
	n := f.Limit
	if f.Grep != "" {
		n = ScanLines
	}
	return append(args, "-n", strconv.Itoa(n))
}

// Script returns the search script for f. It answers from journald when journalctl exists and journal files
// are present, else from the newest lines of /var/log/syslog, /var/log/messages or busybox logread;
// the header line names the source, the device's clock (unix seconds) and UTC offset, for the year-less
// timestamps of syslog files. Output is bounded to MaxOutputBytes of log lines.
func Script(f Filter) string {
	grep := ""
	if f.Grep != "" {
		grep = " | grep -F -i -e " + docker.ShellQuote(f.Grep)
	}
	// The plain-text sources cannot filter by unit, priority or time on the device; read ScanLines lines
	// then, and let the parser keep the newest Limit that match.
	n := f.Limit
	if f.Unit != "" || f.Priority >= 0 || !f.Since.IsZero() || !f.Until.IsZero() || f.Grep != "" {
		n = ScanLines
	}
	return SearchTemplate(docker.Join(JournalctlArgs(f)...), journaldGrep(f), strconv.Itoa(n), grep)
}

// SearchTemplate is Script with its variable parts given as text: args are the quoted journalctl arguments,
// journaldGrep what follows journalctl's output before the byte bound ("" or the grep and its tail), lines the
// line count of the plain-text sources and grep their filter ("" or " | grep -F -i -e 'TEXT'"). Script is the
// only caller that builds a search; the device wrapper (internal/devicewrapper) splits a template made with
// markers to recognise a search by its fixed parts.
func SearchTemplate(args, journaldGrep, lines, grep string) string {
	head := " | head -c " + strconv.Itoa(MaxOutputBytes)
	var b strings.Builder
	b.WriteString("export LC_ALL=C\nPATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin\n")
	b.WriteString("_h() { printf '" + headerPrefix + "%s %s %s@@\\n' \"$1\" \"$(date +%s)\" \"$(date +%z)\"; }\n")
	// journald is there when journalctl is and journal files exist: an installed systemd without a running
	// journald (containers, chroots) leaves an empty /var/log/journal behind.
	b.WriteString("_j() { for f in /run/log/journal/*/*.journal /var/log/journal/*/*.journal; do [ -e \"$f\" ] && return 0; done; return 1; }\n")
	b.WriteString("if command -v journalctl >/dev/null 2>&1 && _j; then\n")
	b.WriteString("  _h " + SourceJournald + "\n  " + journaldLine(args, journaldGrep) + "\n")
	for _, src := range [][2]string{{SourceSyslog, "/var/log/syslog"}, {SourceMessages, "/var/log/messages"}} {
		b.WriteString("elif [ -r " + src[1] + " ] && [ -s " + src[1] + " ]; then\n")
		b.WriteString("  _h " + src[0] + "\n  tail -n " + lines + " " + src[1] + grep + head + "\n")
	}
	b.WriteString("elif command -v logread >/dev/null 2>&1; then\n")
	b.WriteString("  _h " + SourceLogread + "\n  logread 2>/dev/null | tail -n " + lines + grep + head + "\n")
	b.WriteString("else\n  _h " + SourceNone + "\nfi\necho\necho '" + endMarker + "'\n")
	return b.String()
}

// journaldPipeline is the journald branch of Script: journalctl, the fixed-string grep and its line limit when
// grep is set, and the byte bound.
func journaldPipeline(f Filter) string {
	return journaldLine(docker.Join(JournalctlArgs(f)...), journaldGrep(f))
}

// journaldGrep is what narrows journalctl's output when f has grep: journalctl reads ScanLines entries
// (JournalctlArgs), grep keeps the matching ones and tail the newest Limit of those.
func journaldGrep(f Filter) string {
	if f.Grep == "" {
		return ""
	}
	return " | grep -F -i -e " + docker.ShellQuote(f.Grep) + " | tail -n " + strconv.Itoa(f.Limit)
}

func journaldLine(args, grep string) string {
	return "journalctl " + args + " 2>/dev/null" + grep + " | head -c " + strconv.Itoa(MaxOutputBytes)
}
