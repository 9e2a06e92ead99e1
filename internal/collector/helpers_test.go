package collector

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// fixturesDir returns the shared recorded fixtures (shared/fixtures beside
// the module root, or beside a directory above it when the checkout is a
// worktree in a subdirectory) or skips the test when they are not there.
func fixturesDir(t testing.TB) string {
	t.Helper()
	fx := findFixtures()
	if fx == "" {
		t.Skip("shared fixtures not found in shared/fixtures beside the module root or above it")
	}
	return fx
}

// findFixtures returns the shared fixtures directory, or "" when there is
// none.
func findFixtures() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fx := filepath.Join(d, "shared", "fixtures")
		if st, err := os.Stat(fx); err == nil && st.IsDir() {
			return fx
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
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
