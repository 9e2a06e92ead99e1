package pkgupdate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var record = flag.Bool("record", false, "rewrite testdata/recorded from the real tools on this machine")

// debPackage is one package of the local test repository.
type debPackage struct{ name, version, suite string }

// buildAptRepo builds, in dir, a local file: apt repository with one flat repository per suite (built with the
// real dpkg-deb; the Packages and Release indexes are written here because apt-ftparchive is not always
// installed), a dpkg status file with installed versions, and an apt.conf that points apt at them. It returns
// the apt.conf path, for APT_CONFIG: that way the unmodified Script runs against the repository without root
// and without touching the machine's own apt state.
func buildAptRepo(t *testing.T, dir string, repo []debPackage, installed map[string]string) string {
	t.Helper()
	suites := map[string][]debPackage{}
	for _, p := range repo {
		suites[p.suite] = append(suites[p.suite], p)
	}
	var sources strings.Builder
	// Sources in a fixed order: apt lists the origins of a version in source order.
	for _, suite := range slices.Sorted(maps.Keys(suites)) {
		pkgs := suites[suite]
		sd := filepath.Join(dir, "repo", suite)
		require.NoError(t, os.MkdirAll(sd, 0o755))
		var index bytes.Buffer
		for _, p := range pkgs {
			build := filepath.Join(dir, "build", suite, p.name)
			require.NoError(t, os.MkdirAll(filepath.Join(build, "DEBIAN"), 0o755))
			control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Infrastructor <test@example.org>\nDescription: test package %s\n", p.name, p.version, p.name)
			require.NoError(t, os.WriteFile(filepath.Join(build, "DEBIAN", "control"), []byte(control), 0o644))
			file := fmt.Sprintf("%s_%s_all.deb", p.name, p.version)
			out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", build, filepath.Join(sd, file)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			deb, err := os.ReadFile(filepath.Join(sd, file))
			require.NoError(t, err)
			sum := sha256.Sum256(deb)
			fmt.Fprintf(&index, "%sFilename: ./%s\nSize: %d\nSHA256: %s\n\n", control, file, len(deb), hex.EncodeToString(sum[:]))
		}
		require.NoError(t, os.WriteFile(filepath.Join(sd, "Packages"), index.Bytes(), 0o644))
		sum := sha256.Sum256(index.Bytes())
		release := fmt.Sprintf("Origin: Infra\nLabel: Infra\nSuite: %s\nCodename: %s\nVersion: 12.4\nArchitectures: all amd64 arm64\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n %s %d Packages\n",
			suite, suite, hex.EncodeToString(sum[:]), index.Len())
		require.NoError(t, os.WriteFile(filepath.Join(sd, "Release"), []byte(release), 0o644))
		fmt.Fprintf(&sources, "deb [trusted=yes] file:%s ./\n", sd)
	}
	var status strings.Builder
	for _, name := range slices.Sorted(maps.Keys(installed)) {
		version := installed[name]
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\nMaintainer: Infrastructor <test@example.org>\nArchitecture: all\nVersion: %s\nDescription: test package %s\n\n", name, version, name)
	}
	for _, d := range []string{"etc", "etc/preferences.d", "etc/sources.list.d", "state/lists/partial", "cache/archives/partial"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc", "sources.list"), []byte(sources.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state", "status"), []byte(status.String()), 0o644))
	conf := fmt.Sprintf(`Dir::Etc::sourcelist "%[1]s/etc/sources.list";
Dir::Etc::sourceparts "%[1]s/etc/sources.list.d";
Dir::Etc::preferencesparts "%[1]s/etc/preferences.d";
Dir::State::status "%[1]s/state/status";
Dir::State::Lists "%[1]s/state/lists";
Dir::State::extended_states "%[1]s/state/extended_states";
Dir::Cache "%[1]s/cache";
Debug::NoLocking "1";
APT::Sandbox::User "root";
`, dir)
	path := filepath.Join(dir, "apt.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	return path
}

// TestAptRealRepository runs the real Script, with the real apt-get, against a local repository: one package
// with a newer version in the stable suite, one in stable-security, one in both, one up to date. It refreshes
// the repository's own lists (the separate, explicit step) and then checks that the unmodified script reports
// exactly the pending updates. Under -record it also writes the output to testdata/recorded.
func TestAptRealRepository(t *testing.T) {
	for _, tool := range []string{"apt-get", "dpkg-deb", "apt-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	conf := buildAptRepo(t, dir, []debPackage{
		{"hello-infra", "1.1-1", "stable"},
		{"libinfra1", "2.0-2", "stable-security"},
		{"infra-both", "3.1-1", "stable"},
		{"infra-both", "3.1-1", "stable-security"},
		{"infra-current", "1.0-1", "stable"},
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
	require.Equal(t, 2, rep.Security)
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
