package activities

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/devicewrapper"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// hugeStderr is a command's error output of 1 MiB on one line, with terminal escapes, ending in the reason.
func hugeStderr(prefix string) []byte {
	return []byte(prefix + "\x1b[31m" + strings.Repeat("noise ", (1<<20)/6) + "\x1b]0;title\x07the real reason\n")
}

// TestErrorsQuoteBoundedOutput: error messages built from a command's stderr (which reach logs and workflow
// history) carry at most the end of it, cleaned of control characters, and say how much was cut (#15).
func TestErrorsQuoteBoundedOutput(t *testing.T) {
	t.Parallel()
	dev := &store.Device{Name: "edge-1"}
	tests := map[string]func() string{
		"docker command": func() string {
			return (&errDockerCommand{res: &sshpool.Result{ExitCode: 1, Stderr: hugeStderr("")}, err: errors.New("exit 1")}).Error()
		},
		"compose failure": func() string {
			return lastLines(&sshpool.Result{ExitCode: 1, Stderr: hugeStderr("")})
		},
		"wrapper refusal": func() string {
			res := &sshpool.Result{ExitCode: devicewrapper.RefusedExitCode, Stderr: hugeStderr(devicewrapper.RefusedPrefix)}
			err := wrapperRefusal(dev, "poll", res)
			require.Error(t, err)
			return err.Error()
		},
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			m := msg()
			require.LessOrEqual(t, len(m), 2048+512, "message of %d bytes", len(m))
			require.Contains(t, m, "bytes cut)")
			require.Contains(t, m, "the real reason")
			require.NotContains(t, m, "\x1b")
			require.NotContains(t, m, "\x07")
		})
	}
}

// TestQuoteOutput pins the helper's contract: short output only cleaned and trimmed, long output cut to its
// last maxQuotedOutput bytes on a character boundary behind a marker with the exact number of bytes cut.
func TestQuoteOutput(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", quoteOutput(nil))
	require.Equal(t, "Error: No such container: web\nsecond line", quoteOutput([]byte("  Error: No such \x1b[1mcontainer\x1b[0m: web\r\nsecond line\n")))

	long := strings.Repeat("a", 100) + strings.Repeat("é", maxQuotedOutput) // é is 2 bytes
	got := quoteOutput([]byte(long))
	require.True(t, utf8.ValidString(got))
	cut := len(long) - maxQuotedOutput
	require.Equal(t, fmt.Sprintf("…(%d bytes cut) ", cut)+long[cut:], got)

	odd := "x" + strings.Repeat("€", maxQuotedOutput) // € is 3 bytes: the cut would fall inside one
	got = quoteOutput([]byte(odd))
	require.True(t, utf8.ValidString(got))
	cut = len(odd) - maxQuotedOutput
	require.False(t, utf8.RuneStart(odd[cut]), "the test must cut inside a character")
	marker := fmt.Sprintf("…(%d bytes cut) ", cut+2)
	require.Equal(t, marker+odd[cut+2:], got)
}
