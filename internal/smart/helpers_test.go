package smart

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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

// findSharedFixtures returns ../shared/fixtures beside the module root, or "" when it is absent. In a linked
// git worktree the fixtures sit beside the main checkout, so that is looked at too.
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
	roots := []string{dir}
	if b, err := os.ReadFile(filepath.Join(dir, ".git")); err == nil {
		// A linked worktree's .git is a file: "gitdir: <main>/.git/worktrees/<name>".
		gitdir := strings.TrimSpace(strings.TrimPrefix(string(b), "gitdir:"))
		if i := strings.Index(gitdir, string(filepath.Separator)+".git"+string(filepath.Separator)+"worktrees"); i > 0 {
			roots = append(roots, gitdir[:i])
		}
	}
	for _, root := range roots {
		fx := filepath.Join(root, "..", "shared", "fixtures")
		if info, err := os.Stat(fx); err == nil && info.IsDir() {
			return fx
		}
	}
	return ""
}

// sharedFixtures returns the shared recorded fixtures directory sub. They live beside the repository, not in
// it: a developer without them gets a skip, but in CI (CI set), where they are always provided, their absence
// fails the test so that the golden tests cannot silently stop running.
func sharedFixtures(t *testing.T, sub string) string {
	t.Helper()
	fx := findSharedFixtures()
	if fx == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared fixtures (../shared/fixtures beside the repository) are missing; CI must provide them")
		}
		t.Skip("shared fixtures not found beside the repository")
	}
	dir := filepath.Join(fx, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("shared fixtures present but %s is missing: %v", dir, err)
	}
	return dir
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// allocatedBy returns the bytes allocated while fn runs. The tests that use it are not parallel, so the figure
// is fn's own allocation plus noise from the runtime.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Allocation allowed to a parser: allocPerInputByte times the input plus allocFixed. encoding/json allocates
// a few times the input for the values it keeps; the bound leaves room for that and catches output that grows
// faster than the input.
const (
	allocPerInputByte = 64
	allocFixed        = 1 << 20
)

func allocBound(inputLen int) uint64 { return uint64(allocPerInputByte*inputLen + allocFixed) }

func checkText(t testing.TB, what, s string, max int) {
	t.Helper()
	if len(s) > max {
		t.Fatalf("%s is %d bytes, limit %d", what, len(s), max)
	}
}

// jsonFiles lists the .json files in dir.
func jsonFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	require.NotEmpty(t, out, "no .json files in %s", dir)
	return out
}
