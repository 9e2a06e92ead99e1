package pkgupdate

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/stretchr/testify/require"
)

var record = flag.Bool("record", false, "rewrite testdata/recorded from the real tools on this machine")

func TestAptRealRepository(t *testing.T) {
	for _, tool := range []string{"apt-get", "dpkg-deb", "apt-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	conf := testenv.BuildAptRepo(t, dir, []testenv.DebPackage{
		{Name: "hello-infra", Version: "1.1-1", Suite: "stable"},
		{Name: "libinfra1", Version: "2.0-2", Suite: "stable-security"},
		{Name: "infra-both", Version: "3.1-1", Suite: "stable"},
		{Name: "infra-both", Version: "3.1-1", Suite: "stable-security"},
		{Name: "infra-current", Version: "1.0-1", Suite: "stable"},
	}, map[string]string{"hello-infra": "1.0-1", "libinfra1": "2.0-1", "infra-both": "3.0-1", "infra-current": "1.0-1"})
	env := append(os.Environ(), "APT_CONFIG="+conf)

	update := exec.Command("apt-get", "update")
	update.Env = env
	out, err := update.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command("sh", "-s")
	cmd.Env = env
	cmd.Stdin = strings.NewReader(Script())
	out, err = cmd.Output()
	require.NoError(t, err)

	rep, err := Parse(out)
	require.NoError(t, err)
	require.Equal(t, ManagerApt, rep.Manager)
	require.False(t, rep.Failed, "messages: %v", rep.Messages)
	require.Equal(t, 3, rep.Total)
	require.Equal(t, 2, rep.Security, "%s", out)
	require.Equal(t, []Update{
		{Name: "infra-both", Arch: "all", Current: "3.0-1", Candidate: "3.1-1", Security: true, Origin: "Infra:12.4/stable, Infra:12.4/stable-security"},
		{Name: "libinfra1", Arch: "all", Current: "2.0-1", Candidate: "2.0-2", Security: true, Origin: "Infra:12.4/stable-security"},
		{Name: "hello-infra", Arch: "all", Current: "1.0-1", Candidate: "1.1-1", Origin: "Infra:12.4/stable"},
	}, rep.Updates)
	require.False(t, rep.ListsUpdatedAt.IsZero(), "the lists just fetched have an mtime")
	require.Less(t, rep.ListsAge.Minutes(), 10.0)

	if *record {
		// The temporary directory differs per run; record it as a fixed path so the file is reproducible.
		rec := bytes.ReplaceAll(out, []byte(dir), []byte("/tmp/aptrepo"))
		require.NoError(t, os.MkdirAll(filepath.Join("testdata", "recorded"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "recorded", "apt-local-repo.txt"), rec, 0o644))
	}
}
