package docker

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current parsers")

// golden compares v, as indented JSON, with testdata/golden/<name>.json, or writes it there under -update.
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
	require.NoError(t, err, "golden file missing: run go test -update")
	require.Equal(t, string(want), string(got), "output differs from %s (run go test -update and review the diff)", path)
}

// sharedFixtures returns the directory of the shared recorded fixtures (shared/fixtures beside the repository,
// or beside a directory above it when the checkout is a worktree in a subdirectory), or skips the test when it is
// absent.
func sharedFixtures(t testing.TB) string {
	t.Helper()
	fx := findSharedFixtures()
	if fx == "" {
		t.Skip("shared fixtures not found in shared/fixtures beside the repository or above it")
	}
	return fx
}

// findSharedFixtures returns the shared fixtures directory, or "" when there is none.
func findSharedFixtures() string {
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

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
