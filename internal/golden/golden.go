// Package golden compares test output with committed golden files and rewrites them under the -update flag.
// Only tests import it; the flag is defined here once, so a test package that imports it must not define its
// own "update" flag (the flag package panics on the second definition).
package golden

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata from the current code")

// JSON compares v, as indented JSON with a final newline, with testdata/golden/<name>.json in the test's
// package directory, or writes it there under -update.
func JSON(t testing.TB, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	Bytes(t, filepath.Join("testdata", "golden", name+".json"), append(got, '\n'))
}

// Bytes compares got with the file at path, or writes it there (creating its directory) under -update.
func Bytes(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test -update")
	require.Equal(t, string(want), string(got), "output differs from %s (run go test -update and review the diff)", path)
}

// Read returns the contents of the file at path, failing the test if it cannot be read.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
