package sshconfig

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
)

// Allocation allowed to Parse: allocPerInputByte times the input plus allocFixed. Measured with -race at up
// to about 45 bytes per input byte (a 1 MiB file of one-letter Host aliases: a string per alias); the bound
// leaves a wide margin. What it catches is growth faster than the input: before the limits, a file of bad lines
// or duplicate aliases became one formatted warning per line (157 MB for 1 MiB) and a file of patterns took
// 40 s to match against its hosts.
const (
	allocPerInputByte = 128
	allocFixed        = 1 << 20
)

// TestParseHostileFilesAreBounded: files within MaxFileSize built to multiply entries (every alias a duplicate,
// every line a warning, every pattern checked against every host) stay within the allocation bound, the lists
// within their limits, and the matching work within its budget (#15): before, the patterns file took 40 s.
func TestParseHostileFilesAreBounded(t *testing.T) {
	dupLine := "Host" + strings.Repeat(" a", maxLine/2-4) + "\n"
	for name, conf := range map[string]string{
		"duplicate aliases": strings.Repeat(dupLine, MaxFileSize/len(dupLine)),
		"bad lines":         strings.Repeat("x\n", MaxFileSize/2),
		"includes":          strings.Repeat("Include a\n", MaxFileSize/10),
		"patterns x hosts": strings.Repeat("Host"+strings.Repeat(" *a*b", maxLine/6-2)+"\n", MaxFileSize/2/maxLine) +
			strings.Repeat("Host h\n", 0) + hostsList(MaxHosts),
	} {
		t.Run(name, func(t *testing.T) {
			if len(conf) > MaxFileSize {
				conf = conf[:MaxFileSize]
			}
			var res *Result
			var err error
			start := time.Now()
			alloc := malformed.Allocated(func() { res, err = Parse(strings.NewReader(conf)) })
			took := time.Since(start)
			require.NoError(t, err)
			t.Logf("%d bytes: %d allocated, %d hosts, %d skipped, %d warnings, %v", len(conf), alloc, len(res.Hosts),
				len(res.Skipped), len(res.Warnings), took)
			require.LessOrEqual(t, alloc, malformed.Bound(len(conf), allocPerInputByte, allocFixed))
			require.LessOrEqual(t, len(res.Hosts), MaxHosts)
			require.LessOrEqual(t, len(res.Skipped), maxSkipped+1)
			require.LessOrEqual(t, len(res.Warnings), maxWarnings+1)
			if strings.HasPrefix(name, "patterns") {
				// The budget, not the clock, is asserted: the clock is at the mercy of a loaded machine.
				require.True(t, slices.ContainsFunc(res.Skipped, func(s Skip) bool { return strings.Contains(s.Reason, "too long to match") }))
			}
		})
	}
}

func hostsList(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("Host h")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("0", i/26%50))
		b.WriteString("\n")
	}
	return b.String()
}

// TestParseLargeRealisticFileWithinBudget: a file at MaxHosts with one block per host, names sharing a long
// prefix and a catch-all block, imports every host within the matching budget.
func TestParseLargeRealisticFileWithinBudget(t *testing.T) {
	var b strings.Builder
	for i := range MaxHosts {
		fmt.Fprintf(&b, "Host prod-web-server-%04d\n  HostName 10.0.%d.%d\n  User deploy\n", i, i/250, i%250+1)
	}
	b.WriteString("Host prod-web-*\n  Port 2222\nHost *\n  IdentityFile ~/.ssh/id_ed25519\n")
	res, err := Parse(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, res.Hosts, MaxHosts)
	require.Equal(t, 2222, res.Hosts[MaxHosts-1].Port)
	require.Equal(t, []string{"~/.ssh/id_ed25519"}, res.Hosts[0].IdentityFiles)
}
