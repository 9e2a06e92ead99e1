package zfs

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"time"
)

// ParseStatus parses `zpool status -p` text (also without -p, and with -v). Times in the scan line are the
// device's local time; loc is its zone (nil means UTC). "no pools available" is an empty list, not an error.
// Malformed lines are skipped: a partial pool is better than none when the device prints something odd.
func ParseStatus(b []byte, loc *time.Location) ([]Pool, error) {
	if loc == nil {
		loc = time.UTC
	}
	var pools []Pool
	var p *Pool
	var key string       // the section the current continuation lines belong to
	var text []string    // its lines so far
	var cfg *configState // set inside config:
	flush := func() {
		if p == nil || key == "" {
			key, text = "", nil
			return
		}
		joined := p.clip(strings.Join(text, " "), MaxTextBytes)
		switch key {
		case "status":
			p.Status = joined
		case "action":
			p.Action = joined
		case "see":
			p.See = p.clip(joined, MaxFieldBytes)
		case "scan":
			p.Scan = parseScanText(joined, loc)
			if p.Scan != nil {
				p.Scan.Text = joined
			}
		}
		key, text = "", nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if k, v, ok := sectionLine(line); ok {
			flush()
			cfg = nil
			switch k {
			case "pool":
				if len(pools) == MaxPools {
					return nil, tooMany("pools", MaxPools)
				}
				pools = append(pools, Pool{})
				p = &pools[len(pools)-1]
				p.Name = p.clip(v, MaxFieldBytes)
			case "state":
				if p != nil {
					p.State = p.clip(v, MaxFieldBytes)
				}
			case "config":
				if p != nil {
					cfg = &configState{}
				}
			case "errors":
				if p != nil {
					parseErrorsLine(p, v)
				}
			default:
				key, text = k, []string{v}
			}
			continue
		}
		if p == nil {
			continue
		}
		if cfg != nil {
			cfg.line(p, line)
			continue
		}
		if key != "" && strings.TrimSpace(line) != "" {
			text = append(text, strings.TrimSpace(line))
			if len(text) > 64 {
				text = text[:64]
				p.noteTruncated(TruncatedText)
			}
			continue
		}
		// Lines after "errors: Permanent errors have been detected in the following files:" (-v) are one
		// damaged file or object each.
		if strings.HasPrefix(p.Errors, "Permanent errors") && strings.TrimSpace(line) != "" {
			n := uint64(1)
			if p.DataErrors != nil {
				n = *p.DataErrors + 1
			}
			p.DataErrors = &n
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, clipError(err)
	}
	if pools == nil {
		pools = []Pool{}
	}
	return pools, nil
}

// sectionLine recognises the "key: value" lines of zpool status ("  pool:", " state:", "status:", "   see:",
// "config:", "errors:"; also "remove:", "checkpoint:" and others, which are skipped with their continuation
// lines): up to 8 spaces, 3 to 12 lower-case letters, a colon, then a space or the end of the line. It is
// written out rather than a regular expression because it runs on every line.
func sectionLine(line string) (key, value string, ok bool) {
	i := 0
	for i < len(line) && i < 9 && line[i] == ' ' {
		i++
	}
	if i > 8 {
		return "", "", false
	}
	j := i
	for j < len(line) && line[j] >= 'a' && line[j] <= 'z' {
		j++
	}
	if n := j - i; n < 3 || n > 12 || j == len(line) || line[j] != ':' {
		return "", "", false
	}
	rest := line[j+1:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", "", false
	}
	return line[i:j], strings.TrimSpace(rest), true
}

func parseErrorsLine(p *Pool, v string) {
	// zpool can print two errors lines ("List of errors unavailable: permission denied", then "1 data
	// errors, use '-v' for a list"); both are kept.
	if p.Errors == "" {
		p.Errors = p.clip(v, MaxFieldBytes)
	} else {
		p.Errors = p.clip(p.Errors+"; "+v, MaxFieldBytes)
	}
	switch {
	case strings.HasPrefix(v, "No known data errors"):
		zero := uint64(0)
		p.DataErrors = &zero
	default:
		if f := strings.Fields(v); len(f) >= 3 && f[1] == "data" && strings.HasPrefix(f[2], "error") {
			if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				p.DataErrors = &n
			}
		}
	}
}

// configState parses the vdev table under "config:".
type configState struct {
	base    int    // indentation of the NAME header
	header  bool   // header seen
	section string // "", logs, cache, spares, special, dedup
	// stack[d] is the vdev at depth d of the current branch.
	stack []*Vdev
}

var auxSections = map[string]bool{"logs": true, "cache": true, "spares": true, "special": true, "dedup": true}

func indentWidth(line string) int {
	w := 0
	for _, c := range line {
		switch c {
		case ' ':
			w++
		case '\t':
			w += 8 - w%8
		default:
			return w
		}
	}
	return w
}

func (c *configState) line(p *Pool, line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	f := strings.Fields(line)
	if !c.header {
		if f[0] == "NAME" && len(f) >= 2 && f[1] == "STATE" {
			c.header = true
			c.base = indentWidth(line)
		}
		return
	}
	ind := indentWidth(line)
	if ind < c.base {
		return
	}
	depth := (ind - c.base) / 2
	if depth == 0 && len(f) == 1 && auxSections[f[0]] {
		c.section, c.stack = f[0], nil
		return
	}
	v := Vdev{Name: p.clip(f[0], MaxFieldBytes)}
	rest := f[1:]
	if len(rest) > 0 {
		v.State = p.clip(rest[0], MaxFieldBytes)
		rest = rest[1:]
	}
	counters := []*uint64{&v.Read, &v.Write, &v.Checksum}
	for i := 0; i < 3 && len(rest) > 0; i++ {
		n, ok := parseSize(rest[0])
		if !ok {
			break
		}
		*counters[i] = n
		rest = rest[1:]
	}
	if len(rest) > 0 {
		v.Note = p.clip(strings.Join(rest, " "), MaxFieldBytes)
	}
	if p.vdevCount >= MaxVdevsPerPool || depth >= MaxVdevDepth {
		p.noteTruncated(TruncatedVdevs)
		return
	}
	p.vdevCount++
	if c.section == "" && depth == 0 {
		p.Root = &v
		c.stack = []*Vdev{p.Root}
		return
	}
	// Auxiliary sections list their vdevs one level in, with no root of their own.
	level := depth
	if c.section != "" {
		level = depth - 1
		if level < 0 {
			return
		}
		if level == 0 {
			list := c.auxList(p)
			*list = append(*list, v)
			c.stack = []*Vdev{&(*list)[len(*list)-1]}
			return
		}
	}
	if level > len(c.stack) || level == 0 {
		return // a child with no parent at the level above: malformed, skipped
	}
	parent := c.stack[level-1]
	parent.Children = append(parent.Children, v)
	c.stack = append(c.stack[:level], &parent.Children[len(parent.Children)-1])
}

func (c *configState) auxList(p *Pool) *[]Vdev {
	switch c.section {
	case "logs":
		return &p.Logs
	case "cache":
		return &p.Cache
	case "spares":
		return &p.Spares
	case "special":
		return &p.Special
	}
	return &p.Dedup
}

// parseScanText reads the joined "scan:" text; nil for "none requested" and text it does not know. It is
// written out rather than with regular expressions, which allocate more than the text is long.
func parseScanText(s string, loc *time.Location) *Scan {
	switch {
	case strings.HasPrefix(s, "scrub repaired "):
		return parseScanFinished(ScanScrub, s[len("scrub repaired "):], loc)
	case strings.HasPrefix(s, "resilvered "):
		return parseScanFinished(ScanResilver, s[len("resilvered "):], loc)
	case strings.HasPrefix(s, "scrub canceled on "):
		return scanEnded(ScanScrub, ScanCanceled, s[len("scrub canceled on "):], loc)
	case strings.HasPrefix(s, "resilver canceled on "):
		return scanEnded(ScanResilver, ScanCanceled, s[len("resilver canceled on "):], loc)
	case strings.HasPrefix(s, "scrub in progress since "):
		return parseScanRunning(ScanScrub, ScanInProgress, s[len("scrub in progress since "):], loc)
	case strings.HasPrefix(s, "resilver in progress since "):
		return parseScanRunning(ScanResilver, ScanInProgress, s[len("resilver in progress since "):], loc)
	case strings.HasPrefix(s, "scrub paused since "):
		return parseScanRunning(ScanScrub, ScanPaused, s[len("scrub paused since "):], loc)
	}
	return nil
}

// parseScanFinished reads "<repaired> in <duration> with <n> errors on <ctime>" (after "scrub repaired " or
// "resilvered ").
func parseScanFinished(fn ScanFunction, rest string, loc *time.Location) *Scan {
	sc := &Scan{Function: fn, State: ScanFinished}
	repaired, rest, ok := strings.Cut(rest, " in ")
	if !ok {
		return sc
	}
	if n, ok := parseSize(repaired); ok {
		sc.RepairedBytes = &n
	}
	dur, rest, ok := strings.Cut(rest, " with ")
	if !ok {
		return sc
	}
	count, when, ok := strings.Cut(rest, " on ")
	if !ok {
		return sc
	}
	if f := strings.Fields(count); len(f) == 2 && strings.HasPrefix(f[1], "error") {
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			sc.Errors = &n
		}
	}
	if end, ok := parseCtime(when, loc); ok {
		sc.End = &end
		if d, ok := parseScanDuration(dur); ok {
			secs := int64(d / time.Second)
			sc.DurationSeconds = &secs
			start := end.Add(-d)
			sc.Start = &start
		}
	}
	return sc
}

func scanEnded(fn ScanFunction, state ScanState, when string, loc *time.Location) *Scan {
	sc := &Scan{Function: fn, State: state}
	if end, ok := parseCtime(when, loc); ok {
		sc.End = &end
	}
	return sc
}

// parseScanRunning reads "<ctime> <progress lines>" after "scrub in progress since " (and the like). The
// progress lines come in two formats: 0.8 and later print "704G / 1.66T scanned at 5.67G/s, 0B / 1.66T
// issued" and "0B repaired, 0.00% done, ..."; older versions "1.23T scanned out of 2.00T at 100M/s, 1h2m to
// go" and "0 repaired, 61.5% done".
func parseScanRunning(fn ScanFunction, state ScanState, rest string, loc *time.Location) *Scan {
	sc := &Scan{Function: fn, State: state}
	f := strings.Fields(rest)
	if len(f) >= 5 {
		if t, ok := parseCtime(strings.Join(f[:5], " "), loc); ok {
			sc.Start = &t
		}
	}
	set := func(dst **uint64, s string) {
		if n, ok := parseSize(strings.TrimSuffix(s, ",")); ok {
			*dst = &n
		}
	}
	for k, w := range f {
		switch strings.TrimSuffix(w, ",") {
		case "scanned":
			if k >= 3 && f[k-2] == "/" {
				set(&sc.ScannedBytes, f[k-3])
				set(&sc.TotalBytes, f[k-1])
			} else if k >= 1 && k+3 < len(f) && f[k+1] == "out" && f[k+2] == "of" {
				set(&sc.ScannedBytes, f[k-1])
				set(&sc.TotalBytes, f[k+3])
			}
		case "issued":
			if k >= 3 && f[k-2] == "/" {
				set(&sc.IssuedBytes, f[k-3])
			}
		case "repaired", "resilvered":
			if k >= 1 && strings.HasSuffix(w, ",") {
				set(&sc.RepairedBytes, f[k-1])
			}
		case "done":
			if k >= 1 && strings.HasSuffix(f[k-1], "%,") || k >= 1 && strings.HasSuffix(f[k-1], "%") {
				if p, ok := parsePercent(strings.TrimSuffix(f[k-1], ",")); ok {
					sc.ProgressPercent = &p
				}
			}
		}
	}
	return sc
}
