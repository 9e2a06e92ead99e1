package journal

import (
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// ParseSyslogLine parses one line of a plain-text system log:
//
//   - the traditional format "Mmm dd hh:mm:ss host ident[pid]: msg" (rsyslog's default, busybox syslogd),
//     also with a year after the time or after the day;
//   - rsyslog's high-precision format "2026-12-04T18:52:10.123456+01:00 host ident[pid]: msg";
//   - busybox logread's "Mmm dd hh:mm:ss host facility.priority ident[pid]: msg";
//   - RFC 5424 "<pri>1 timestamp host app procid msgid [sd] msg" and a leading RFC 3164 "<pri>".
//
// Year-less times are placed in loc in the year that puts them at most a day after now (a log read in January
// holds December lines). ok is false for a line that matches none of these.
func ParseSyslogLine(line []byte, now time.Time, loc *time.Location) (Entry, bool) {
	if loc == nil {
		loc = time.UTC
	}
	s := string(line)
	var e Entry
	// "<pri>" prefix: facility*8 + severity.
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 2 || end > 4 {
			return Entry{}, false
		}
		pri, err := strconv.Atoi(s[1:end])
		if err != nil || pri < 0 || pri > 191 {
			return Entry{}, false
		}
		e.Priority = Priorities[pri%8]
		s = s[end+1:]
		if strings.HasPrefix(s, "1 ") {
			return parse5424(e, s[2:])
		}
	}
	var rest string
	var ok bool
	if len(s) > 10 && s[4] == '-' && s[10] == 'T' {
		ts, r, _ := strings.Cut(s, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Entry{}, false
		}
		e.Time, rest = t.UTC(), r
	} else if e.Time, rest, ok = parseBSDTime(s, now, loc); !ok {
		return Entry{}, false
	}
	host, rest, _ := strings.Cut(rest, " ")
	e.Hostname = clean(host)
	// busybox logread: "facility.priority" before the tag
	if tok, r, found := strings.Cut(rest, " "); found {
		if fac, pri, dot := strings.Cut(tok, "."); dot && isFacility(fac) {
			if p, err := ParsePriority(pri); err == nil {
				e.Priority, rest = Priorities[p], r
			}
		}
	}
	e.Identifier, e.PID, rest = parseTag(rest)
	e.Message, e.Cut = safetext.String(rest, MaxMessageBytes, true)
	return e, true
}

// parse5424 parses what follows "<pri>1 ".
func parse5424(e Entry, s string) (Entry, bool) {
	f := strings.SplitN(s, " ", 6)
	if len(f) < 5 {
		return Entry{}, false
	}
	if f[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return Entry{}, false
		}
		e.Time = t.UTC()
	}
	nil5424 := func(v string) string {
		if v == "-" {
			return ""
		}
		return clean(v)
	}
	e.Hostname, e.Identifier = nil5424(f[1]), nil5424(f[2])
	if n, err := strconv.Atoi(f[3]); err == nil && n > 0 {
		e.PID = n
	}
	msg := ""
	if len(f) == 6 {
		msg = skipStructuredData(f[5])
	}
	msg = strings.TrimPrefix(msg, "\uFEFF") // BOM marks UTF-8 in RFC 5424
	e.Message, e.Cut = safetext.String(msg, MaxMessageBytes, true)
	return e, true
}

// skipStructuredData drops RFC 5424 structured data ("-" or "[id k="v"]...") from the front of s.
func skipStructuredData(s string) string {
	if strings.HasPrefix(s, "-") {
		return strings.TrimPrefix(strings.TrimPrefix(s, "-"), " ")
	}
	for strings.HasPrefix(s, "[") {
		i, esc := 1, false
		for ; i < len(s); i++ {
			if esc {
				esc = false
				continue
			}
			if s[i] == '\\' {
				esc = true
			} else if s[i] == ']' {
				break
			}
		}
		if i >= len(s) {
			return ""
		}
		s = s[i+1:]
	}
	return strings.TrimPrefix(s, " ")
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7,
	"Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// parseBSDTime parses "Mmm dd hh:mm:ss" (day space- or zero-padded), "Mmm dd yyyy hh:mm:ss" or
// "Mmm dd hh:mm:ss yyyy" at the start of s and returns the rest after the following space.
func parseBSDTime(s string, now time.Time, loc *time.Location) (time.Time, string, bool) {
	f := strings.SplitN(s, " ", 6)
	// "Dec  4" splits into "Dec", "", "4"
	if len(f) > 2 && f[1] == "" {
		f = append(f[:1], f[2:]...)
	}
	if len(f) < 3 {
		return time.Time{}, "", false
	}
	mon, ok := months[f[0]]
	if !ok {
		return time.Time{}, "", false
	}
	day, err := strconv.Atoi(f[1])
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, "", false
	}
	year, clock, used := 0, f[2], 3
	if len(f[2]) == 4 && len(f) > 3 { // "Mmm dd yyyy hh:mm:ss"
		if y, err := strconv.Atoi(f[2]); err == nil {
			year, clock, used = y, f[3], 4
		}
	} else if len(f) > 3 && len(f[3]) == 4 { // "Mmm dd hh:mm:ss yyyy"
		if y, err := strconv.Atoi(f[3]); err == nil && y > 1900 {
			year, used = y, 4
		}
	}
	var hh, mm, ss, nsec int
	if len(clock) < 8 || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, "", false
	}
	if hh, err = strconv.Atoi(clock[0:2]); err != nil || hh > 23 {
		return time.Time{}, "", false
	}
	if mm, err = strconv.Atoi(clock[3:5]); err != nil || mm > 59 {
		return time.Time{}, "", false
	}
	if ss, err = strconv.Atoi(clock[6:8]); err != nil || ss > 60 {
		return time.Time{}, "", false
	}
	if len(clock) > 8 { // fractional seconds
		if clock[8] != '.' || len(clock) > 18 {
			return time.Time{}, "", false
		}
		frac := clock[9:] + strings.Repeat("0", 9-len(clock[9:]))
		if nsec, err = strconv.Atoi(frac); err != nil {
			return time.Time{}, "", false
		}
	}
	rest := ""
	if len(f) > used {
		rest = strings.Join(f[used:], " ")
	}
	if year != 0 {
		return time.Date(year, mon, day, hh, mm, ss, nsec, loc).UTC(), rest, true
	}
	if now.IsZero() {
		now = time.Now()
	}
	local := now.In(loc)
	t := time.Date(local.Year(), mon, day, hh, mm, ss, nsec, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = time.Date(local.Year()-1, mon, day, hh, mm, ss, nsec, loc)
	}
	return t.UTC(), rest, true
}

var facilities = map[string]bool{"kern": true, "user": true, "mail": true, "daemon": true, "auth": true,
	"syslog": true, "lpr": true, "news": true, "uucp": true, "cron": true, "authpriv": true, "ftp": true,
	"local0": true, "local1": true, "local2": true, "local3": true, "local4": true, "local5": true,
	"local6": true, "local7": true, "security": true, "mark": true}

func isFacility(s string) bool { return facilities[s] }

// parseTag splits "ident[pid]: msg" or "ident: msg". Without a tag the whole text is the message.
func parseTag(s string) (ident string, pid int, msg string) {
	colon := strings.Index(s, ": ")
	if colon < 0 {
		if strings.HasSuffix(s, ":") {
			colon = len(s) - 1
		} else {
			return "", 0, s
		}
	}
	tag := s[:colon]
	if tag == "" || len(tag) > 128 || strings.ContainsAny(tag, " \t") {
		return "", 0, s
	}
	msg = strings.TrimPrefix(s[colon+1:], " ")
	if open := strings.IndexByte(tag, '['); open > 0 && strings.HasSuffix(tag, "]") {
		if n, err := strconv.Atoi(tag[open+1 : len(tag)-1]); err == nil && n > 0 {
			pid = n
		}
		tag = tag[:open]
	}
	return clean(tag), pid, msg
}

func clean(s string) string {
	c, _ := safetext.String(s, MaxFieldBytes, false)
	return c
}
