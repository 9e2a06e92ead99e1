package docker

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
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

// sharedFixtures returns the directory of the shared recorded fixtures (../shared/fixtures beside the
// repository); see testenv.FixturesDir for when their absence skips and when it fails.
func sharedFixtures(t testing.TB) string {
	t.Helper()
	return testenv.FixturesDir(t)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
