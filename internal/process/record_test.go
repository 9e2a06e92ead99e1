package process

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var record = flag.Bool("record", false, "run Script on this machine (procps and the /proc reader, under dash and busybox sh) and record the outputs into testdata/recorded")

// procOnly turns Script into its /proc branch, as on a device whose ps is busybox's.
func procOnly(s string) string { return strings.Replace(s, "ps --version", "no-such-ps --version", 1) }

// runScript runs script with the given shell (argv) and returns stdout.
func runScript(t testing.TB, argv []string, script string) []byte {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Skipf("%s not installed", argv[0])
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

var shells = map[string][]string{"dash": {"dash", "-s"}, "busybox": {"busybox", "sh", "-s"}}

func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("run with -record to rewrite testdata/recorded")
	}
	dir := filepath.Join("testdata", "recorded")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, sort := range []Sort{ByCPU, ByMemory} {
		s, err := Script(sort, 15)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "procps-"+string(sort)+".out"), runScript(t, shells["dash"], s), 0o644))
		for name, argv := range shells {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "proc-"+name+"-"+string(sort)+".out"), runScript(t, argv, procOnly(s)), 0o644))
		}
	}
	// busybox's own ps, for reference: what the /proc reader replaces (no --sort, few -o fields)
	if out, err := exec.Command("busybox", "ps", "-o", "pid,user,vsz,stat,args").Output(); err == nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "busybox-ps.txt"), out, 0o644))
	}
}
