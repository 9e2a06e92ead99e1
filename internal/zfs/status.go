package zfs

import (
	"bufio"
	"bytes"
	"regexp"
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

// sectionKeys are the "key:" lines of zpool status; others ("remove:", "checkpoint:") are skipped with their
// continuation lines.
var sectionRE = regexp.MustCompile(`^\s{0,8}([a-z]{3,12}):(?:\s(.*))?$`)

func sectionLine(line string) (key, value string, ok bool) {
	m := sectionRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(m[2]), true
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

var (
	scanFinishedRE = regexp.MustCompile(`^(scrub repaired|resilvered) (\S+) in (.+?) with (\d+) errors? on (.+)$`)
	scanCanceledRE = regexp.MustCompile(`^(scrub|resilver) canceled on (.+)$`)
	scanRunningRE  = regexp.MustCompile(`^(scrub|resilver) in progress since (.+?)(?: \S+ / | \S+ scanned|$)`)
	scanPausedRE   = regexp.MustCompile(`^scrub paused since (.+?)(?:$| scrub started on| \S+ / | \S+ scanned)`)
	// New format (0.8+): "704G / 1.66T scanned at 5.67G/s, 0B / 1.66T issued".
	scannedIssuedRE = regexp.MustCompile(`(\S+) / (\S+) scanned(?: at \S+)?, (\S+) / (\S+) issued`)
	// Old format: "1.23T scanned out of 2.00T at 100M/s".
	scannedOutOfRE = regexp.MustCompile(`(\S+) scanned out of (\S+)`)
	repairedRE     = regexp.MustCompile(`(\S+) (?:repaired|resilvered), (\S+)% done`)
)

// parseScanText reads the joined "scan:" text; nil for "none requested" and text it does not know.
func parseScanText(s string, loc *time.Location) *Scan {
	if m := scanFinishedRE.FindStringSubmatch(s); m != nil {
		sc := &Scan{Function: ScanScrub, State: ScanFinished}
		if m[1] == "resilvered" {
			sc.Function = ScanResilver
		}
		if n, ok := parseSize(m[2]); ok {
			sc.RepairedBytes = &n
		}
		if n, err := strconv.ParseUint(m[4], 10, 64); err == nil {
			sc.Errors = &n
		}
		if end, ok := parseCtime(m[5], loc); ok {
			sc.End = &end
			if d, ok := parseScanDuration(m[3]); ok {
				secs := int64(d / time.Second)
				sc.DurationSeconds = &secs
				start := end.Add(-d)
				sc.Start = &start
			}
		}
		return sc
	}
	if m := scanCanceledRE.FindStringSubmatch(s); m != nil {
		sc := &Scan{Function: ScanFunction(m[1]), State: ScanCanceled}
		if end, ok := parseCtime(m[2], loc); ok {
			sc.End = &end
		}
		return sc
	}
	var sc *Scan
	if m := scanRunningRE.FindStringSubmatch(s); m != nil {
		sc = &Scan{Function: ScanFunction(m[1]), State: ScanInProgress}
		if t, ok := parseCtime(m[2], loc); ok {
			sc.Start = &t
		}
	} else if m := scanPausedRE.FindStringSubmatch(s); m != nil {
		sc = &Scan{Function: ScanScrub, State: ScanPaused}
		if t, ok := parseCtime(m[1], loc); ok {
			sc.Start = &t
		}
	} else {
		return nil
	}
	set := func(dst **uint64, s string) {
		if n, ok := parseSize(s); ok {
			*dst = &n
		}
	}
	if m := scannedIssuedRE.FindStringSubmatch(s); m != nil {
		set(&sc.ScannedBytes, m[1])
		set(&sc.TotalBytes, m[2])
		set(&sc.IssuedBytes, m[3])
	} else if m := scannedOutOfRE.FindStringSubmatch(s); m != nil {
		set(&sc.ScannedBytes, m[1])
		set(&sc.TotalBytes, m[2])
	}
	if m := repairedRE.FindStringSubmatch(s); m != nil {
		set(&sc.RepairedBytes, m[1])
		if f, ok := parsePercent(m[2]); ok {
			sc.ProgressPercent = &f
		}
	}
	return sc
}
