// Package collector holds the poll script run on a device and the pure
// parsers that turn its output into typed values.
//
// One poll is one SSH session running Script; its output is a sequence of
// marked sections (see SectionStat and friends). Parse splits the output and
// calls one pure parser per section; Compute turns two polls' counters into
// rates. The package performs no I/O: reading is the caller's job, so every
// parser can be tested against recorded files.
package collector

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNotAvailable reports that a section's source does not exist on the
// device (no ZFS, no thermal zones, an old kernel). It is not a failure:
// Parse leaves the matching Snapshot field nil and lists the section in
// Snapshot.Unavailable.
var ErrNotAvailable = errors.New("not available on this device")

// ErrTruncated reports output that lacks the final end marker, typically
// because the command was cut off by a deadline or an output size cap.
// Parsing a truncated output would under-count disks or interfaces, so Parse
// refuses it.
var ErrTruncated = errors.New("collector output truncated")

// ErrNoSections reports output without any section marker: the script did
// not run (wrong shell, not Linux, a login banner only).
var ErrNoSections = errors.New("no collector sections in output")

// SectionError is a malformed section. Section names the section
// (SectionStat...) so a bad device file can be found from the error alone.
type SectionError struct {
	Section string
	Err     error
}

// Error implements error. The message is cut to a few hundred bytes: it
// quotes device text and is kept in logs and workflow history.
func (e *SectionError) Error() string {
	return clipError(fmt.Errorf("parse collector section %q: %v", e.Section, e.Err)).Error()
}

// Unwrap returns the underlying error.
func (e *SectionError) Unwrap() error { return e.Err }

// Snapshot holds the raw values of one poll. Fields of sections the device
// lacks are nil (or empty for lists).
type Snapshot struct {
	// Time is the device's wall clock when the poll began (sub-second when
	// its date supports %N). Zero if the time section is missing.
	Time         time.Time     `json:"time"`
	Uptime       *Uptime       `json:"uptime,omitempty"`
	CPU          *CPUStat      `json:"cpu,omitempty"`
	Memory       *Memory       `json:"memory,omitempty"`
	Load         *LoadAvg      `json:"load,omitempty"`
	Processes    *int          `json:"processes,omitempty"`
	Filesystems  []Filesystem  `json:"filesystems,omitempty"`
	Interfaces   []NetDev      `json:"interfaces,omitempty"`
	Disks        []DiskStat    `json:"disks,omitempty"`
	Temperatures []Temperature `json:"temperatures,omitempty"`
	ARC          *ARCStats     `json:"arc,omitempty"`
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Unavailable lists the sections the device reported as not available
	// or did not print at all, in script order.
	Unavailable []string `json:"unavailable,omitempty"`
	// Truncated lists the sections whose entries or strings were cut to the
	// parsers' limits (MaxInterfaces, MaxFieldBytes, ...), each once; empty
	// for any real machine.
	Truncated []string `json:"truncated,omitempty"`
}

// Counters is the part of a Snapshot that Compute needs from the previous
// poll. It is stored between polls so a worker restart neither skips a rate
// nor computes one over a made-up interval.
type Counters struct {
	Time          time.Time  `json:"time"`
	UptimeSeconds float64    `json:"uptime_seconds,omitempty"`
	CPU           *CPUStat   `json:"cpu,omitempty"`
	Interfaces    []NetDev   `json:"interfaces,omitempty"`
	Disks         []DiskStat `json:"disks,omitempty"`
}

// Counters returns the counters of s to keep for the next poll.
func (s *Snapshot) Counters() *Counters {
	if s == nil {
		return nil
	}
	c := &Counters{Time: s.Time, CPU: s.CPU, Interfaces: s.Interfaces, Disks: s.Disks}
	if s.Uptime != nil {
		c.UptimeSeconds = s.Uptime.Seconds
	}
	return c
}

// section is one marked block of the script output.
type section struct {
	data []byte
	na   bool
}

// splitSections cuts out into marked sections. Text before the first marker
// (a login banner printed by a shell rc file) is ignored.
func splitSections(out []byte) (map[string]section, bool, error) {
	secs := make(map[string]section)
	cur := ""
	start := 0
	end, unknown := false, false
	pos := 0
	flush := func(stop int) {
		if cur != "" {
			s := secs[cur]
			s.data = out[start:stop]
			secs[cur] = s
		}
	}
	for pos <= len(out) {
		nl := bytes.IndexByte(out[pos:], '\n')
		lineEnd := len(out)
		next := len(out) + 1
		if nl >= 0 {
			lineEnd = pos + nl
			next = lineEnd + 1
		}
		line := bytes.TrimSuffix(out[pos:lineEnd], []byte{'\r'})
		if name, na, ok := parseMarker(line); ok {
			flush(pos)
			if end {
				return nil, false, fmt.Errorf("section %q after end marker", clipString(name, 64))
			}
			if _, dup := secs[name]; dup {
				return nil, false, fmt.Errorf("duplicate section %q", name)
			}
			switch {
			case name == SectionEnd:
				end = true
				cur = ""
			case !knownSections[name]:
				// A newer script's section: skipped, and not kept, so
				// any number of them costs nothing.
				cur = ""
				unknown = true
			default:
				cur = name
				secs[name] = section{na: na}
			}
			start = next
			if start > len(out) {
				start = len(out)
			}
		}
		pos = next
	}
	if cur != "" {
		flush(len(out))
	}
	if len(secs) == 0 && !end && !unknown {
		return nil, false, ErrNoSections
	}
	return secs, end, nil
}

// knownSections are the sections Parse reads.
var knownSections = map[string]bool{
	SectionTime: true, SectionUptime: true, SectionStat: true, SectionMeminfo: true, SectionLoadavg: true,
	SectionNetDev: true, SectionDiskstats: true, SectionMounts: true, SectionARCStats: true, SectionProcs: true,
	SectionHwmon: true, SectionThermal: true, SectionOSRelease: true, SectionCaps: true, SectionDF: true,
	SectionDFInodes: true,
}

// parseMarker recognises a whole marker line.
func parseMarker(line []byte) (name string, na bool, ok bool) {
	// Checked on the bytes first: converting every line of the output to a
	// string would copy the whole output.
	if !bytes.HasPrefix(line, []byte(markerPrefix)) || !bytes.HasSuffix(line, []byte("@@")) || len(line) < len(markerPrefix)+3 {
		return "", false, false
	}
	s := string(line)
	name = s[len(markerPrefix) : len(s)-2]
	if n, cut := strings.CutSuffix(name, ":na"); cut {
		name, na = n, true
	}
	if name == "" {
		return "", false, false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", false, false
		}
	}
	return name, na, true
}

// Parse turns the whole output of Script into a Snapshot. Sections the
// device lacks leave their field nil; a malformed section fails the whole
// parse with a *SectionError, because storing half-wrong counters would show
// up later as a bogus rate.
func Parse(out []byte) (*Snapshot, error) {
	s, err := parse(out)
	if err != nil {
		return nil, clipError(err)
	}
	return s, nil
}

func parse(out []byte) (*Snapshot, error) {
	secs, end, err := splitSections(out)
	if err != nil {
		return nil, fmt.Errorf("parse collector output: %w", err)
	}
	if !end {
		return nil, fmt.Errorf("parse collector output: %w", ErrTruncated)
	}
	s := &Snapshot{}
	p := parser{secs: secs, snap: s}

	p.run(SectionTime, func(b []byte) error {
		t, err := ParseTime(b)
		s.Time = t
		return err
	})
	p.run(SectionUptime, func(b []byte) (err error) { s.Uptime, err = ParseUptime(b); return })
	p.runLimited(SectionStat, func(b []byte, l *limiter) (err error) { s.CPU, err = parseStat(b, l); return })
	p.run(SectionMeminfo, func(b []byte) (err error) { s.Memory, err = ParseMeminfo(b); return })
	p.run(SectionLoadavg, func(b []byte) (err error) { s.Load, err = ParseLoadavg(b); return })
	p.runLimited(SectionNetDev, func(b []byte, l *limiter) (err error) { s.Interfaces, err = parseNetDev(b, l); return })
	p.runLimited(SectionDiskstats, func(b []byte, l *limiter) (err error) { s.Disks, err = parseDiskstats(b, l); return })
	var mounts []Mount
	p.runLimited(SectionMounts, func(b []byte, l *limiter) (err error) { mounts, err = parseMounts(b, l); return })
	p.run(SectionARCStats, func(b []byte) (err error) { s.ARC, err = ParseARCStats(b); return })
	p.run(SectionProcs, func(b []byte) error {
		n, err := ParseProcs(b)
		if err == nil {
			s.Processes = &n
		}
		return err
	})
	var temps []Temperature
	p.runLimited(SectionHwmon, func(b []byte, l *limiter) (err error) { temps, err = parseHwmon(b, l); return })
	p.runLimited(SectionThermal, func(b []byte, l *limiter) error {
		t, err := parseThermal(b, l)
		if room := MaxSensors - len(temps); len(t) > room {
			t, l.cut = t[:room], true
		}
		temps = append(temps, t...)
		return err
	})
	s.Temperatures = uniqueSensors(temps)
	var df, dfi *DFTable
	p.runLimited(SectionDF, func(b []byte, l *limiter) (err error) { df, err = parseDF(b, l); return })
	p.runLimited(SectionDFInodes, func(b []byte, l *limiter) (err error) { dfi, err = parseDF(b, l); return })
	if df != nil {
		lim := &limiter{}
		s.Filesystems = filesystems(df, dfi, mounts, lim)
		if lim.cut && !slices.Contains(s.Truncated, SectionDF) {
			s.Truncated = append(s.Truncated, SectionDF)
		}
	}
	var osr *OSRelease
	p.runLimited(SectionOSRelease, func(b []byte, l *limiter) (err error) { osr, err = parseOSRelease(b, l); return })
	p.runLimited(SectionCaps, func(b []byte, l *limiter) (err error) {
		s.Capabilities, err = parseCapabilities(b, osr, l)
		return
	})
	if p.err != nil {
		return nil, p.err
	}
	if s.Memory != nil && s.ARC != nil {
		s.Memory.ARCSizeBytes = s.ARC.SizeBytes
		s.Memory.ARCMinBytes = s.ARC.MinBytes
	}
	if c := s.Capabilities; c != nil {
		if s.CPU != nil {
			c.CPUCount = len(s.CPU.Cores)
		}
		if s.Memory != nil {
			c.MemoryTotalBytes = s.Memory.TotalBytes
		}
		if s.ARC != nil {
			c.HasZFS = true
		}
	}
	return s, nil
}

// parser runs section parsers in order and keeps the first error.
type parser struct {
	secs map[string]section
	snap *Snapshot
	err  error
}

// runLimited is run for a parser that may cut its result to the limits; a
// cut is listed in Snapshot.Truncated.
func (p *parser) runLimited(name string, fn func([]byte, *limiter) error) {
	lim := &limiter{}
	p.run(name, func(b []byte) error { return fn(b, lim) })
	if lim.cut && p.err == nil && !slices.Contains(p.snap.Truncated, name) {
		p.snap.Truncated = append(p.snap.Truncated, name)
	}
}

func (p *parser) run(name string, fn func([]byte) error) {
	if p.err != nil {
		return
	}
	sec, ok := p.secs[name]
	if !ok || sec.na {
		p.snap.Unavailable = append(p.snap.Unavailable, name)
		return
	}
	if err := fn(sec.data); err != nil {
		if errors.Is(err, ErrNotAvailable) {
			p.snap.Unavailable = append(p.snap.Unavailable, name)
			return
		}
		p.err = &SectionError{Section: name, Err: err}
	}
}
