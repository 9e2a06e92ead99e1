package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// fixturesDir returns the shared recorded fixtures (../shared/fixtures from the module root); see
// testenv.FixturesDir for when their absence skips and when it fails.
func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.FixturesDir(t)
}

// fixtureFiles lists fixture files in sub whose names end with one of the
// suffixes.
func fixtureFiles(t *testing.T, sub string, suffixes ...string) []string {
	t.Helper()
	dir := filepath.Join(fixturesDir(t), sub)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				out = append(out, filepath.Join(dir, e.Name()))
				break
			}
		}
	}
	require.NotEmpty(t, out, "no fixtures matching %v in %s", suffixes, dir)
	return out
}
