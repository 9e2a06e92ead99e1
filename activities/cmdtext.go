package activities

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// maxQuotedOutput caps the command output an error message quotes. Such messages reach logs, the operation's
// row and Temporal workflow history, and a device can print megabytes of error output (#15).
const maxQuotedOutput = 2 << 10

// quoteOutput returns a command's output (typically its stderr) for an error message: cleaned of terminal
// escapes and control characters (newlines kept), trimmed, and cut to its last maxQuotedOutput bytes, where
// tools put the reason, behind a marker saying how much was cut. Every error message that quotes command
// output goes through it.
func quoteOutput(b []byte) string {
	s, _ := safetext.Clean(b, 0, true)
	s = strings.TrimSpace(s)
	cut := len(s) - maxQuotedOutput
	if cut <= 0 {
		return s
	}
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return fmt.Sprintf("…(%d bytes cut) %s", cut, s[cut:])
}
