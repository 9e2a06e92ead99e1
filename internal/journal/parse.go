package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Bounds of the parsers, whatever a device prints.
const (
	// MaxLineBytes bounds one input line; longer lines are skipped and counted in Result.Skipped.
	MaxLineBytes = 256 << 10
	// MaxMessageBytes bounds an entry's message; a longer one is cut and the entry marked.
	MaxMessageBytes = 16 << 10
	// MaxFieldBytes bounds every other string field.
	MaxFieldBytes = 256
)

// ErrNoHeader reports output that does not start with the script's source header: not this package's script,
// or a session that died before printing anything.
var ErrNoHeader = errors.New("journal: output lacks the source header")

// Entry is one log entry.
type Entry struct {
	Time time.Time `json:"time"`
	// Priority is the severity name (emerg ... debug); empty when the source does not say.
	Priority string `json:"priority,omitempty"`
	// Unit is the systemd unit that logged it (journald only).
	Unit string `json:"unit,omitempty"`
	// Identifier is the syslog identifier (program name).
	Identifier string `json:"identifier,omitempty"`
	PID        int    `json:"pid,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	Message    string `json:"message"`
	// Binary is set when the message was not text (journald's array of bytes, or invalid UTF-8): Message shows
	// it with U+FFFD for invalid bytes and without control characters.
	Binary bool `json:"binary,omitempty"`
	// Cut is set when Message was shortened to MaxMessageBytes.
	Cut bool `json:"cut,omitempty"`
	// Cursor is journald's cursor of the entry, to resume a tail after it.
	Cursor string `json:"cursor,omitempty"`
}

// Result is the parsed answer of Script.
type Result struct {
	// Source is one of the Source* constants.
	Source  string  `json:"source"`
	Entries []Entry `json:"entries"`
	// Truncated is set when the device's output was cut (MaxOutputBytes) or the session ended early, so older
	// or newer matches may be missing.
	Truncated bool `json:"truncated,omitempty"`
	// Skipped counts lines that could not be parsed or were longer than MaxLineBytes.
	Skipped int `json:"skipped,omitempty"`
	// Unapplied lists filters the source could not apply (e.g. "priority" on a syslog file without
	// priorities): entries were kept rather than guessed away.
	Unapplied []string `json:"unapplied,omitempty"`
}

// header is the parsed first line of a script's output.
type header struct {
	source string
	now    time.Time
	loc    *time.Location
}

func parseHeader(line string) (header, bool) {
	if !strings.HasPrefix(line, headerPrefix) || !strings.HasSuffix(line, "@@") {
		return header{}, false
	}
	f := strings.Fields(line[len(headerPrefix) : len(line)-2])
	if len(f) == 0 {
		return header{}, false
	}
	h := header{source: f[0], loc: time.UTC}
	switch h.source {
	case SourceJournald, SourceSyslog, SourceMessages, SourceLogread, SourceNone:
	default:
		return header{}, false
	}
	if len(f) > 1 {
		if s, err := strconv.ParseInt(f[1], 10, 64); err == nil && s > 0 && s < 1<<40 {
			h.now = time.Unix(s, 0).UTC()
		}
	}
	if len(f) > 2 {
		if t, err := time.Parse("-0700", f[2]); err == nil {
			_, off := t.Zone()
			h.loc = time.FixedZone(f[2], off)
		}
	}
	return h, true
}

// Parse parses a search script's output and applies f to what the source could not filter itself (see the
// package comment); it keeps the newest f.Limit entries, oldest first. now is used to place year-less syslog
// timestamps when the header lacks the device's clock.
func Parse(out []byte, f Filter, now time.Time) (Result, error) {
	res := Result{Entries: []Entry{}}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	h, ok := parseHeader(strings.TrimRight(string(first), "\r"))
	if !ok {
		return res, ErrNoHeader
	}
	res.Source = h.source
	if h.now.IsZero() {
		h.now = now
	}
	body, ended := bytes.CutSuffix(bytes.TrimRight(rest, "\r\n"), []byte(endMarker))
	if !ended {
		res.Truncated = true
	} else if len(body) >= MaxOutputBytes {
		res.Truncated = true
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	priorityUnapplied := false
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(line) > MaxLineBytes {
			res.Skipped++
			continue
		}
		var e Entry
		var hasPriority bool
		switch h.source {
		case SourceJournald:
			var err error
			if e, err = ParseJSONLine(line); err != nil {
				res.Skipped++
				continue
			}
			hasPriority = true // journalctl -p already filtered; an entry without PRIORITY passed it
		default:
			var ok bool
			if e, ok = ParseSyslogLine(line, h.now, h.loc); !ok {
				res.Skipped++
				continue
			}
			hasPriority = e.Priority != ""
			if f.Unit != "" && !unitMatches(f.Unit, e.Identifier) {
				continue
			}
		}
		if f.Priority >= 0 {
			if !hasPriority {
				priorityUnapplied = true
			} else if p, err := ParsePriority(e.Priority); err == nil && p > f.Priority {
				continue
			}
		}
		if !f.Since.IsZero() && !e.Time.IsZero() && e.Time.Before(f.Since) {
			continue
		}
		if !f.Until.IsZero() && !e.Time.IsZero() && e.Time.After(f.Until) {
			continue
		}
		if f.Grep != "" && !containsFold(e.Message, f.Grep) {
			continue
		}
		if len(res.Entries) == 2*limit {
			// keep the newest: drop the older half at once, so a long scan costs linear time
			res.Entries = append(res.Entries[:0], res.Entries[limit:]...)
		}
		res.Entries = append(res.Entries, e)
	}
	if len(res.Entries) > limit {
		res.Entries = append(res.Entries[:0], res.Entries[len(res.Entries)-limit:]...)
	}
	if priorityUnapplied {
		res.Unapplied = append(res.Unapplied, "priority")
	}
	return res, nil
}

// unitMatches compares a unit with a syslog identifier: "nginx.service" matches "nginx". Plain-text logs do
// not record units, so this is the best a fallback source allows.
func unitMatches(unit, ident string) bool {
	return ident != "" && (ident == unit || ident == strings.TrimSuffix(unit, ".service"))
}

// containsFold reports whether s contains sub, ignoring case (Unicode simple folding).
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// jsonLine holds the journald fields an Entry uses. Each can be a string, an array of byte values (binary
// data or invalid UTF-8), an array of those (a field that occurs more than once) or null (a value above
// journalctl's data threshold).
type jsonLine struct {
	Realtime   json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	Cursor     json.RawMessage `json:"__CURSOR"`
	Priority   json.RawMessage `json:"PRIORITY"`
	Unit       json.RawMessage `json:"_SYSTEMD_UNIT"`
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	Comm       json.RawMessage `json:"_COMM"`
	PID        json.RawMessage `json:"_PID"`
	SyslogPID  json.RawMessage `json:"SYSLOG_PID"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	Message    json.RawMessage `json:"MESSAGE"`
}

// ParseJSONLine parses one line of `journalctl -o json`.
func ParseJSONLine(line []byte) (Entry, error) {
	var j jsonLine
	if err := json.Unmarshal(line, &j); err != nil {
		return Entry{}, err
	}
	var e Entry
	if us, ok := fieldValue(j.Realtime); ok {
		if n, err := strconv.ParseInt(string(us), 10, 64); err == nil && n > 0 {
			e.Time = time.UnixMicro(n).UTC()
		}
	}
	if e.Time.IsZero() {
		return Entry{}, errors.New("journal: entry without __REALTIME_TIMESTAMP")
	}
	if p, ok := fieldValue(j.Priority); ok && len(p) == 1 && p[0] >= '0' && p[0] <= '7' {
		e.Priority = Priorities[p[0]-'0']
	}
	e.Unit = shortField(j.Unit)
	e.Identifier = shortField(j.Identifier)
	if e.Identifier == "" {
		e.Identifier = shortField(j.Comm)
	}
	for _, raw := range []json.RawMessage{j.PID, j.SyslogPID} {
		if v, ok := fieldValue(raw); ok {
			if n, err := strconv.Atoi(string(v)); err == nil && n > 0 {
				e.PID = n
				break
			}
		}
	}
	e.Hostname = shortField(j.Hostname)
	e.Cursor = shortFieldN(j.Cursor, 1024)
	msg, ok := fieldValue(j.Message)
	if ok {
		e.Binary = isBinary(j.Message) || !utf8.Valid(msg)
		e.Message, e.Cut = safetext.Clean(msg, MaxMessageBytes, true)
	}
	return e, nil
}

// fieldValue decodes a journald JSON field to its bytes: a string as is, an array of numbers 0-255 as those
// bytes, and for a repeated field (an array of values) the first value. null and absent give false.
func fieldValue(raw json.RawMessage) ([]byte, bool) { return fieldValueDepth(raw, 0) }

// fieldValueDepth follows at most one level of nesting: journald never nests deeper, and following more would
// let a crafted line cost time quadratic in its length.
func fieldValueDepth(raw json.RawMessage, depth int) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []byte(s), true
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil || len(arr) == 0 {
			return nil, false
		}
		if first := bytes.TrimSpace(arr[0]); len(first) > 0 && (first[0] == '"' || first[0] == '[') {
			if depth > 0 {
				return nil, false
			}
			return fieldValueDepth(first, depth+1) // repeated field: the first value
		}
		b := make([]byte, 0, len(arr))
		for _, a := range arr {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(a)), 10, 8)
			if err != nil {
				return nil, false
			}
			b = append(b, byte(n))
		}
		return b, true
	}
	return nil, false
}

// isBinary reports whether a field came as an array of byte values.
func isBinary(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return false
	}
	rest := bytes.TrimSpace(raw[1:])
	return len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9'
}

func shortField(raw json.RawMessage) string { return shortFieldN(raw, MaxFieldBytes) }

func shortFieldN(raw json.RawMessage, max int) string {
	v, ok := fieldValue(raw)
	if !ok {
		return ""
	}
	s, _ := safetext.Clean(v, max, false)
	return s
}
