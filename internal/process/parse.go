package process

import (
	"bytes"
	"errors"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// MaxFieldBytes bounds the user and command fields.
const MaxFieldBytes = 64

// ErrNoHeader reports output that does not start with the script's header.
var ErrNoHeader = errors.New("process: output lacks the header")

// Process is one row of the listing.
type Process struct {
	PID  int    `json:"pid"`
	User string `json:"user,omitempty"`
	// Command is the program name: the kernel's comm, or the base name of the first argument.
	Command string `json:"command"`
	// Args is the command line, at most MaxArgsBytes, with values of password-like options masked.
	Args string `json:"args,omitempty"`
	// ArgsCut is set when Args was shortened.
	ArgsCut    bool    `json:"args_cut,omitempty"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   uint64  `json:"rss_bytes"`
	// State is ps's STAT: the first letter is the state (R running, S sleeping, D disk wait, Z zombie, T
	// stopped, I idle), the rest are flags.
	State string `json:"state"`
	// Started is when the process started; zero when unknown.
	Started time.Time `json:"started,omitzero"`
}

// Result is the parsed answer of Script.
type Result struct {
	Source    string    `json:"source"`
	Processes []Process `json:"processes"`
	// Truncated is set when the end marker is missing: the session ended early.
	Truncated bool `json:"truncated,omitempty"`
	Skipped   int  `json:"skipped,omitempty"`
}

// Parse parses Script's output, keeping at most MaxLimit rows in the device's order (already sorted).
func Parse(out []byte) (Result, error) {
	res := Result{Processes: []Process{}}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	h := strings.TrimRight(string(first), "\r")
	if !strings.HasPrefix(h, headerPrefix) || !strings.HasSuffix(h, "@@") {
		return res, ErrNoHeader
	}
	f := strings.Fields(h[len(headerPrefix) : len(h)-2])
	if len(f) == 0 || (f[0] != SourceProcps && f[0] != SourceProc) {
		return res, ErrNoHeader
	}
	res.Source = f[0]
	var now time.Time
	if len(f) > 1 {
		if s, err := strconv.ParseInt(f[1], 10, 64); err == nil && s > 0 && s < 1<<40 {
			now = time.Unix(s, 0).UTC()
		}
	}
	body, ended := bytes.CutSuffix(bytes.TrimRight(rest, "\r\n"), []byte(endMarker))
	res.Truncated = !ended
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(res.Processes) == MaxLimit {
			res.Truncated = true
			break
		}
		var p Process
		var ok bool
		if res.Source == SourceProcps {
			p, ok = parsePS(string(line), now)
		} else {
			p, ok = parseProc(string(line))
		}
		if !ok {
			res.Skipped++
			continue
		}
		res.Processes = append(res.Processes, p)
	}
	return res, nil
}

// parsePS parses "pid user pcpu rss stat etimes args..." (procps, right-aligned columns).
func parsePS(line string, now time.Time) (Process, bool) {
	var fields [6]string
	rest := line
	for i := range fields {
		rest = strings.TrimLeft(rest, " ")
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			if i < 5 {
				return Process{}, false
			}
			end = len(rest)
		}
		fields[i], rest = rest[:end], rest[end:]
	}
	p, ok := common(fields[0], fields[1], fields[2], fields[3], fields[4])
	if !ok {
		return Process{}, false
	}
	if et, err := strconv.ParseInt(fields[5], 10, 64); err == nil && et >= 0 && !now.IsZero() {
		if et >= 1<<31 {
			// procps prints a process started within the current clock tick (ps itself, often) as -1 elapsed
			// seconds read as unsigned: 4294967295, a start 136 years ago. It started just now.
			et = 0
		}
		p.Started = now.Add(-time.Duration(et) * time.Second)
	}
	setArgs(&p, strings.TrimLeft(rest, " "), "")
	return p, true
}

// parseProc parses the /proc reader's "pid\tuser\tcpu\trss_kib\tstate\tstart_unix\tcomm\targs".
func parseProc(line string) (Process, bool) {
	f := strings.SplitN(line, "\t", 8)
	if len(f) < 7 {
		return Process{}, false
	}
	p, ok := common(f[0], f[1], f[2], f[3], f[4])
	if !ok {
		return Process{}, false
	}
	if s, err := strconv.ParseInt(f[5], 10, 64); err == nil && s > 0 && s < 1<<40 {
		p.Started = time.Unix(s, 0).UTC()
	}
	args := ""
	if len(f) == 8 {
		args = strings.TrimRight(f[7], " ")
	}
	setArgs(&p, args, f[6])
	return p, true
}

func common(pid, user, cpu, rss, state string) (Process, bool) {
	var p Process
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return p, false
	}
	p.PID = n
	p.User = clean(user)
	c, err := strconv.ParseFloat(cpu, 64)
	if err != nil || c < 0 || c > 1e6 {
		return p, false
	}
	p.CPUPercent = c
	kib, err := strconv.ParseUint(rss, 10, 64)
	if err != nil || kib > 1<<44 {
		return p, false
	}
	p.RSSBytes = kib * 1024
	p.State = clean(state)
	if p.State == "" {
		return p, false
	}
	return p, true
}

// setArgs fills Args and Command. A kernel thread has no command line: ps shows "[name]", /proc an empty one.
func setArgs(p *Process, args, comm string) {
	args = maskSecrets(args)
	p.Args, p.ArgsCut = safetext.String(args, MaxArgsBytes, false)
	switch {
	case comm != "":
		p.Command = clean(comm)
	case strings.HasPrefix(args, "[") && strings.HasSuffix(args, "]"):
		p.Command = clean(strings.Trim(args, "[]"))
	case args != "":
		first, _, _ := strings.Cut(args, " ")
		p.Command = clean(path.Base(first))
	}
	if p.Args == "" && p.Command != "" {
		p.Args = "[" + p.Command + "]"
	}
}

// secretArg matches option values that commonly carry credentials: --password=x, token=x, -pPASS is not
// caught (no way to tell it from other short options), which is one more reason Args is short.
var secretArg = regexp.MustCompile(`(?i)((?:^|[\s])-{0,2}[\w.-]*(?:pass(?:wd|word)?|secret|token|api[_-]?key|credentials?|auth)[\w.-]*[=:])\S+`)

func maskSecrets(s string) string {
	if len(s) > 4*MaxArgsBytes {
		s = s[:4*MaxArgsBytes]
	}
	return secretArg.ReplaceAllString(s, "${1}***")
}

func clean(s string) string {
	c, _ := safetext.String(s, MaxFieldBytes, false)
	return c
}
