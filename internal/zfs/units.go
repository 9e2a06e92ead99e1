package zfs

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// parseSize reads a size as zpool prints it: exact bytes ("1647130456064"), or zfs_nicenum units with
// powers of 1024 ("0B", "25.8M", "1.66T"). It reports false for "-", "" and anything else.
func parseSize(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return 0, false
	}
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		return v, true
	}
	mult := 1.0
	switch s[len(s)-1] {
	case 'B':
		s = s[:len(s)-1]
	case 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'M':
		mult, s = 1<<20, s[:len(s)-1]
	case 'G':
		mult, s = 1<<30, s[:len(s)-1]
	case 'T':
		mult, s = 1<<40, s[:len(s)-1]
	case 'P':
		mult, s = 1<<50, s[:len(s)-1]
	case 'E':
		mult, s = 1<<60, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || s == "" || !isDecimal(s) {
		return 0, false
	}
	f *= mult
	if f >= math.MaxUint64 {
		return math.MaxUint64, true
	}
	return uint64(f), true
}

// isDecimal reports whether s is digits with at most one dot: ParseFloat also takes "Inf", "0x1p3" and
// exponents, which zpool never prints.
func isDecimal(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// parsePercent reads "12.5%", "12.5" or "33"; false for "-" and garbage.
func parsePercent(s string) (float64, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	if s == "" || !isDecimal(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseRatio reads a ratio as zfs prints it: "1.00x" or, with -p, "1.00".
func parseRatio(s string) (float64, bool) {
	return parsePercent(strings.TrimSuffix(strings.TrimSpace(s), "x"))
}

// parseScanDuration reads the "in ..." duration of a scan line: "08:37:48", "0 days 00:19:47",
// "1 days 02:03:04", "14h7m", "0h0m".
func parseScanDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.Index(s, " days "); i > 0 {
		d, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || d < 0 {
			return 0, false
		}
		days, s = d, s[i+len(" days "):]
	}
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		var total int64
		for _, p := range parts {
			v, err := strconv.ParseInt(p, 10, 32)
			if err != nil || v < 0 {
				return 0, false
			}
			total = total*60 + v
		}
		return time.Duration(days*86400+total) * time.Second, true
	}
	if days == 0 && strings.HasSuffix(s, "m") && strings.Contains(s, "h") {
		d, err := time.ParseDuration(s)
		if err == nil && d >= 0 {
			return d, true
		}
	}
	return 0, false
}

// zpool prints times with ctime(3): "Sun Nov  3 15:24:53 2024", local to the device.
const ctimeLayout = "Mon Jan _2 15:04:05 2006"

func parseCtime(s string, loc *time.Location) (time.Time, bool) {
	t, err := time.ParseInLocation(ctimeLayout, strings.Join(strings.Fields(s), " "), loc)
	if err != nil {
		// Fields collapsed the double space of a one-digit day; the layout's _2 accepts one space too.
		return time.Time{}, false
	}
	return t, true
}
