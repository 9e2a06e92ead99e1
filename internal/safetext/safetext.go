// Package safetext turns bytes read from a device (log messages, process arguments, unit descriptions) into
// text that is safe to show in a terminal, a browser or an LLM prompt: valid UTF-8 only, no terminal escape
// sequences, no control characters except tab and newline, and a bounded length.
package safetext

import (
	"unicode/utf8"
)

// Clean returns b as safe text of at most max bytes (max <= 0 means no limit) and whether anything was cut
// off. Valid UTF-8 is kept; each invalid byte becomes U+FFFD; ANSI/VT escape sequences (CSI, OSC, DCS and
// two-byte ESC sequences, in their 7-bit and 8-bit forms) are removed; other C0 and C1 control characters and
// DEL are removed, except tab and newline when keepNewlines is set (tab and newline become a space
// otherwise). The cut falls on a character boundary.
func Clean(b []byte, max int, keepNewlines bool) (string, bool) {
	n := len(b)
	if max > 0 && n > max {
		n = max
	}
	out := make([]byte, 0, n)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !appendLimited(&out, "\uFFFD", max) {
				return string(out), true
			}
			i++
			continue
		}
		switch {
		case r == 0x1b: // ESC: skip the whole sequence
			i = skipEscape(b, i+1)
			continue
		case r == 0x9b: // 8-bit CSI
			i = skipCSI(b, i+size)
			continue
		case r == 0x9d || r == 0x90 || r == 0x9e || r == 0x9f: // 8-bit OSC, DCS, PM, APC
			i = skipString(b, i+size)
			continue
		case r == '\t' || r == '\n':
			s := " "
			if keepNewlines {
				s = string(r)
			}
			if !appendLimited(&out, s, max) {
				return string(out), true
			}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// other control characters carry no text; dropping them keeps terminals and logs sane
		case r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// line/paragraph separators and bidirectional overrides can disguise text (Trojan Source)
		default:
			if !appendLimited(&out, string(b[i:i+size]), max) {
				return string(out), true
			}
		}
		i += size
	}
	return string(out), false
}

// String is Clean for a string.
func String(s string, max int, keepNewlines bool) (string, bool) {
	return Clean([]byte(s), max, keepNewlines)
}

func appendLimited(out *[]byte, s string, max int) bool {
	if max > 0 && len(*out)+len(s) > max {
		return false
	}
	*out = append(*out, s...)
	return true
}

// skipEscape returns the index after the escape sequence whose ESC byte precedes i.
func skipEscape(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '[':
		return skipCSI(b, i+1)
	case ']', 'P', '^', '_', 'X':
		return skipString(b, i+1)
	}
	// intermediate bytes 0x20-0x2f, then one final byte 0x30-0x7e
	for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
		i++
	}
	if i < len(b) && b[i] >= 0x30 && b[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI skips parameter and intermediate bytes and the final byte of a control sequence.
func skipCSI(b []byte, i int) int {
	for i < len(b) && b[i] >= 0x20 && b[i] <= 0x3f {
		i++
	}
	if i < len(b) && b[i] >= 0x40 && b[i] <= 0x7e {
		i++
	}
	return i
}

// skipString skips an OSC/DCS/PM/APC string up to its terminator (BEL, ESC \ or 8-bit ST) or, unterminated,
// to the end of the line: a missing terminator must not swallow the rest of the text.
func skipString(b []byte, i int) int {
	for i < len(b) {
		switch {
		case b[i] == 0x07:
			return i + 1
		case b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\':
			return i + 2
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] == 0x9c:
			return i + 2
		case b[i] == '\n':
			return i
		}
		i++
	}
	return i
}
