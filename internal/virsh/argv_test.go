package virsh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeVirsh puts a virsh on PATH that prints its arguments one per line, so a test sees exactly the argv a
// script's virsh call receives after sh has parsed it.
func fakeVirsh(t testing.TB) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "virsh"), []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"), 0o755))
	return dir
}

func runArgv(t testing.TB, dir, script string) []string {
	cmd := exec.Command("sh", "-s")
	cmd.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// checkActionArgv: whatever domain and URI a caller passes, ActionScript either refuses them or virsh receives
// exactly [-c URI] ACTION --domain DOMAIN: nothing becomes shell syntax or an extra option.
func checkActionArgv(t testing.TB, dir string, a Action, domain, uri string) {
	s, err := ActionScript(a, domain, uri)
	if err != nil {
		require.ErrorIs(t, err, ErrInvalidArgument)
		return
	}
	want := []string{}
	if uri != "" {
		want = append(want, "-c", uri)
	}
	want = append(want, string(a), "--domain", domain)
	require.Equal(t, want, runArgv(t, dir, s))
}

func TestActionArgv(t *testing.T) {
	dir := fakeVirsh(t)
	for _, tc := range []struct{ domain, uri string }{
		{"web01", ""},
		{"a+b:c@d.e-f_g", "qemu+ssh://root@host.lan:2222/system"},
		{"x", "test:///tmp/node.xml"},
		{"$(touch /tmp/pwned)", "qemu:///system"},
		{"web01", "qemu:///system;touch /tmp/pwned"},
		{"--help", ""},
		{"a'b", "qemu:///system"},
	} {
		checkActionArgv(t, dir, ActionShutdown, tc.domain, tc.uri)
	}
}

func FuzzActionScript(f *testing.F) {
	f.Add("web01", "qemu:///system")
	f.Add("a+b:c@d", "qemu+ssh://u@h:22/system")
	f.Add("$(id)", "`id`")
	dir := fakeVirsh(f)
	f.Fuzz(func(t *testing.T, domain, uri string) { checkActionArgv(t, dir, ActionReboot, domain, uri) })
}

// TestInventoryScriptURIArgv: the URI reaches virsh as one argument through the inventory script as well.
func TestInventoryScriptURIArgv(t *testing.T) {
	dir := fakeVirsh(t)
	s, err := InventoryScript("qemu+ssh://root@h:2222/system")
	require.NoError(t, err)
	out := runArgv(t, dir, s)
	require.Equal(t, "@@infra-virsh begin list", out[0])
	require.Equal(t, []string{"-c", "qemu+ssh://root@h:2222/system", "list", "--all", "--name"}, out[1:6])
}
