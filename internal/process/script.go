// Package process builds the script that lists a device's top processes and parses what it prints. It does no
// I/O. The script is POSIX sh for the standard input of `sh -s` (see sshpool.ExecCommand) and works with
// procps `ps` and, where ps is busybox's (which lacks most -o fields and --sort), by reading /proc in awk.
package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidArgument is matched (errors.Is) by every validation error.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgError names the argument that failed validation.
type ArgError struct {
	// Field is the argument name, "sort" or "limit".
	Field string
	// Value is the rejected value.
	Value string
	// Reason says what is wrong.
	Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("process: invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ArgError) Is(target error) bool { return target == ErrInvalidArgument }

// Sort orders the processes.
type Sort string

// The orders Script accepts.
const (
	ByCPU    Sort = "cpu"
	ByMemory Sort = "memory"
)

// Limits of a listing.
const (
	DefaultLimit = 10
	MaxLimit     = 100
	// MaxArgsBytes is how much of a command line is kept: enough to tell processes apart, little enough that
	// long argument lists (and what secrets they may hold) stay on the device.
	MaxArgsBytes = 200
)

// ParseSort accepts "cpu" (the default when empty) or "memory" ("mem" and "rss" too).
func ParseSort(s string) (Sort, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "cpu":
		return ByCPU, nil
	case "memory", "mem", "rss":
		return ByMemory, nil
	}
	return "", &ArgError{Field: "sort", Value: s, Reason: "must be cpu or memory"}
}

// NormalizeLimit returns DefaultLimit for 0 and checks 1..MaxLimit otherwise.
func NormalizeLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, &ArgError{Field: "limit", Value: strconv.Itoa(n), Reason: fmt.Sprintf("must be 1-%d", MaxLimit)}
	}
	return n, nil
}

// Marker lines: the header (first line) names the source and the device's clock, the end marker is the last
// line. Nothing between them is read as a marker.
const (
	headerPrefix = "@@infra:ps:"
	endMarker    = "@@infra:end@@"
	// SourceProcps is procps ps output; SourceProc is the /proc reader's tab-separated lines.
	SourceProcps = "procps"
	SourceProc   = "proc"
)

// lineBytes bounds every line the script prints: the fixed columns plus MaxArgsBytes of arguments.
const lineBytes = MaxArgsBytes + 160

// Script returns the script listing the top limit processes by sort. With procps it runs
// `ps -eo pid=,user:64=,pcpu=,rss=,stat=,etimes=,args= --sort=-pcpu|-rss`: elapsed seconds (etimes, procps 3.3
// and later) rather than lstart, because lstart is printed in the device's zone and locale while etimes plus the
// device clock gives the start time exactly. Without procps it reads /proc/[pid]/stat in one awk pass
// (CPU % as ps computes it: CPU time over lifetime), sorts, and reads status and cmdline of only the top
// processes. User names come from ps or /etc/passwd.
func Script(sort Sort, limit int) (string, error) {
	if _, err := ParseSort(string(sort)); err != nil {
		return "", err
	}
	limit, err := NormalizeLimit(limit)
	if err != nil {
		return "", err
	}
	psKey, procKey := "-pcpu", "3,3nr"
	if sort == ByMemory {
		psKey, procKey = "-rss", "4,4nr"
	}
	n, lb, ab := strconv.Itoa(limit), strconv.Itoa(lineBytes), strconv.Itoa(MaxArgsBytes)
	return `export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin
now=$(date +%s)
tab=$(printf '\t')
if ps --version 2>/dev/null | grep -q procps; then
  echo "` + headerPrefix + SourceProcps + ` $now@@"
  ps -eo pid=,user:64=,pcpu=,rss=,stat=,etimes=,args= --sort=` + psKey + ` 2>/dev/null | head -n ` + n + ` | cut -c1-` + lb + `
else
  echo "` + headerPrefix + SourceProc + ` $now@@"
  hz=$(getconf CLK_TCK 2>/dev/null); case $hz in ''|*[!0-9]*) hz=100 ;; esac
  pg=$(getconf PAGESIZE 2>/dev/null); case $pg in ''|*[!0-9]*) pg=4096 ;; esac
  read -r up _ </proc/uptime
  bt=$(awk '$1 == "btime" { print $2 }' /proc/stat)
  pw=/etc/passwd; [ -r "$pw" ] || pw=/dev/null
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v hz="$hz" -v pg="$pg" -v up="$up" -v bt="$bt" -v OFS="$tab" '{
    o = index($0, "("); c = 0
    for (i = length($0); i > o; i--) if (substr($0, i, 1) == ")") { c = i; break }
    if (!o || !c) next
    comm = substr($0, o + 1, c - o - 1); gsub(/[\t]/, " ", comm)
    if (split(substr($0, c + 2), r, " ") < 22) next
    st = r[20] / hz; el = up - st; cpu = 0
    if (el > 0) cpu = (r[12] + r[13]) / hz / el * 100
    printf "%d\t%s\t%.1f\t%d\t%d\t%s\n", substr($0, 1, o - 2), r[1], cpu, r[22] * pg / 1024, bt + st, comm
  }' | sort -t "$tab" -k` + procKey + ` | head -n ` + n + ` | while IFS="$tab" read -r pid state cpu rss start comm; do
    uid=$(awk '$1 == "Uid:" { print $2; exit }' "/proc/$pid/status" 2>/dev/null)
    [ -n "$uid" ] || continue # exited since the stat pass
    args=$(tr '\000\n\t' '   ' <"/proc/$pid/cmdline" 2>/dev/null | head -c ` + ab + `)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pid" "$uid" "$cpu" "$rss" "$state" "$start" "$comm" "$args"
  done | awk -F "$tab" -v OFS="$tab" -v pw="$pw" 'FILENAME == pw { split($0, a, ":"); u[a[3]] = a[1]; next } { if ($2 in u) $2 = u[$2]; print }' "$pw" - | cut -c1-` + lb + `
fi
echo
echo '` + endMarker + `'
`, nil
}
