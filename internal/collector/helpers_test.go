package collector

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

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

// golden compares v, as indented JSON, with testdata/golden/<name>.json,
// rewriting the file under -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing; run go test -update")
	require.Equal(t, string(want), string(got), "golden %s differs; run go test -update if the change is intended", path)
}
