package zfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// sharedFixtures returns the shared recorded fixtures directory sub; testenv.FixturesDir says when their
// absence skips and when (CI=true) it fails.
func sharedFixtures(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join(testenv.FixturesDir(t), sub)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("shared fixtures present but %s is missing: %v", dir, err)
	}
	return dir
}

// Allocation allowed to a parser: allocPerInputByte times the input plus allocFixed. The parsers allocate a
// few times the input for the values they keep; the bound leaves room for that and catches output that grows
// faster than the input.
const (
	allocPerInputByte = 64
	allocFixed        = 1 << 20
)

// files lists the files in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasSuffix(e.Name(), ".md") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	require.NotEmpty(t, out, "no files in %s", dir)
	return out
}
