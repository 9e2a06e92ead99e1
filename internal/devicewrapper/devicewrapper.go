// Package devicewrapper generates the forced command installed in front of the worker's key on a device
// (authorized_keys `restrict,command="..."`, see deploy/device/setup-device.sh). The wrapper is a POSIX sh
// script, since devices have no Infrastructor binary: it lets through exactly the commands the product sends
// and refuses, logs and fails everything else (#15).
//
// What it allows is derived from the product's own command builders, so it cannot drift from them unnoticed:
// the fixed scripts (the collector, the docker probe, the cgroup statistics, the compose fallback's prefix) are
// embedded verbatim and compared byte for byte, and the docker commands with arguments are parsed into words
// (only after checking that no word can expand: quotes are balanced, nothing outside quotes but letters, digits
// and . _ / : , @ + = % { } -) and checked word by word against the builders' grammar: container references,
// compose project names, timeouts, signals, log times. The system log search and the live log tails (package
// journal) are recognised by their fixed parts; their arguments (units, priorities, times, boots, cursors, line
// counts, container references) are checked word by word, the search text must be one word exactly as
// docker.ShellQuote writes it, and the script rebuilt from the checked parts must equal the one received.
// A new or changed command in the product is refused by an older wrapper; TestWrapperAllowsEveryProductCommand fails until the wrapper learns it.
//
// Both transports are accepted: the fixed exec request sshpool.ExecCommand ("sh -s") with the command on standard
// input framed by sshpool.Script (current workers), and the command line as the exec request (older workers).
// In either case the wrapper runs, with /bin/sh -c, exactly the text it validated.
package devicewrapper

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/systemd"
	"github.com/infrastructor/infrastructor/internal/virsh"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// template is the wrapper with @NAME@ placeholders for the embedded literals.
//
//go:embed wrapper.sh.in
var template string

// RefusedPrefix starts the wrapper's standard error when it refuses a command (its exit status is then
// RefusedExitCode), so the worker can tell a refusal from a failing command.
const RefusedPrefix = "infrastructor-wrapper: refused ("

// RefusedExitCode is the wrapper's exit status for a refused command.
const RefusedExitCode = 126

// MaxScript is the most bytes of standard input the wrapper reads as a script; longer input is refused.
const MaxScript = 65536

// Script returns the wrapper, ready to install as an executable file on a device.
func Script() string {
	// The frame the SSH pool puts around every command, taken from the pool itself so the two cannot differ.
	frame := strings.SplitN(string(sshpool.Script("\x00")), "\x00", 2)
	// The system log search (journal.Script) split at its variable parts, and the frame of a live tail around
	// its follower (journal.FollowCommand, which names the follower twice).
	search := splitMarked(journal.SearchTemplate("\x01", "\x02", "\x03", "\x04"), 9)
	follow := splitMarked(journal.FollowCommand("\x01"), 3)
	r := strings.NewReplacer(
		"@LOG_P0@", docker.ShellQuote(search[0]),
		"@LOG_P1@", docker.ShellQuote(search[1]),
		"@LOG_P2@", docker.ShellQuote(search[2]),
		"@LOG_P3@", docker.ShellQuote(search[3]),
		"@LOG_P4@", docker.ShellQuote(search[4]),
		"@LOG_P5@", docker.ShellQuote(search[5]),
		"@LOG_P6@", docker.ShellQuote(search[6]),
		"@LOG_P7@", docker.ShellQuote(search[7]),
		"@LOG_P8@", docker.ShellQuote(search[8]),
		"@TAIL_HEAD@", docker.ShellQuote(follow[0]),
		"@TAIL_MID@", docker.ShellQuote(follow[1]),
		"@TAIL_END@", docker.ShellQuote(follow[2]),
		"@TAIL_CONTEXT@", strconv.Itoa(journal.TailContext),
		"@SCAN_LINES@", strconv.Itoa(journal.ScanLines),
		"@MAX_LIMIT@", strconv.Itoa(journal.MaxLimit),
		"@MAX_GREP@", strconv.Itoa(journal.MaxGrep),
		"@MAX_CURSOR@", strconv.Itoa(journal.MaxCursor),
		"@EXEC_COMMAND@", docker.ShellQuote(sshpool.ExecCommand),
		"@SCRIPT_HEAD@", docker.ShellQuote(frame[0]),
		"@SCRIPT_TAIL@", docker.ShellQuote(frame[1]),
		"@LIT_COLLECTOR@", docker.ShellQuote(collector.Script),
		"@LIT_PROBE@", docker.ShellQuote(docker.Probe()),
		"@LIT_CGROUP@", docker.ShellQuote(docker.CgroupStats()),
		"@LIT_IMAGES@", docker.ShellQuote(docker.ImageDigests()),
		"@COMPOSE_PREFIX@", docker.ShellQuote(docker.ComposePrefix()),
		"@LIT_SMART_SCAN@", docker.ShellQuote(smart.ScanCommand(false)),
		"@LIT_SMART_SCAN_SUDO@", docker.ShellQuote(smart.ScanCommand(true)),
		"@LIT_ZFS@", docker.ShellQuote(zfs.CollectScript),
		"@MAX_SCRIPT@", "65536",
		"@LIT_PKGUPDATE@", docker.ShellQuote(pkgupdate.Script()),
		"@LIT_VIRSH_INVENTORY@", docker.ShellQuote(virsh.SystemInventoryScript()),
		"@LIT_NETINFO@", docker.ShellQuote(netinfo.Script()),
		"@LIT_DOCKER_NETWORKS@", docker.ShellQuote(netinfo.DockerNetworksCommand()),
		"@VIRSH_URI@", docker.ShellQuote(virsh.SystemURI),
		"@LIT_PS_CPU@", docker.ShellQuote(process.FixedScript(process.ByCPU)),
		"@LIT_PS_MEM@", docker.ShellQuote(process.FixedScript(process.ByMemory)),
		"@LIT_SYSTEMD_FAILED@", docker.ShellQuote(systemd.FailedScript()),
		"@SYSTEMD_PRELUDE@", docker.ShellQuote(systemd.Prelude()),
		"@SYSTEMD_SHOW_TAIL@", docker.ShellQuote(systemd.ShowTail()),
		"@SYSTEMD_PROPS@", docker.ShellQuote(strings.Join(systemd.ShowProperties, ",")),
	)
	return r.Replace(template)
}

// splitMarked splits a builder's output made with marker bytes (\x01 to \x04) for its variable parts into the n
// fixed parts around them (some may be empty). A builder whose shape changed (a marker more or less) stops the
// generator: a wrapper that recognised only part of a command would refuse it on every device.
func splitMarked(s string, n int) []string {
	parts := strings.Split(strings.NewReplacer("\x02", "\x01", "\x03", "\x01", "\x04", "\x01").Replace(s), "\x01")
	if len(parts) != n {
		panic("devicewrapper: unexpected shape of a log command")
	}
	return parts
}
