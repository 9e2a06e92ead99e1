package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// DebPackage is one package of a local test apt repository (BuildAptRepo).
type DebPackage struct{ Name, Version, Suite string }

// BuildAptRepo builds, in dir, a local file: apt repository with one flat repository per suite (built with the
// real dpkg-deb; the Packages and Release indexes are written here because apt-ftparchive is not always
// installed), a dpkg status file with installed versions, and an apt.conf that points apt at them. It returns
// the apt.conf path, for APT_CONFIG: that way the unmodified Script runs against the repository without root
// and without touching the machine's own apt state.
func BuildAptRepo(t testing.TB, dir string, repo []DebPackage, installed map[string]string) string {
	t.Helper()
	suites := map[string][]DebPackage{}
	for _, p := range repo {
		suites[p.Suite] = append(suites[p.Suite], p)
	}
	var sources strings.Builder
	// Sources in a fixed order: apt lists the origins of a version in source order.
	for _, suite := range slices.Sorted(maps.Keys(suites)) {
		pkgs := suites[suite]
		sd := filepath.Join(dir, "repo", suite)
		require.NoError(t, os.MkdirAll(sd, 0o755))
		var index bytes.Buffer
		for _, p := range pkgs {
			build := filepath.Join(dir, "build", suite, p.Name)
			require.NoError(t, os.MkdirAll(filepath.Join(build, "DEBIAN"), 0o755))
			control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Infrastructor <test@example.org>\nDescription: test package %s\n", p.Name, p.Version, p.Name)
			require.NoError(t, os.WriteFile(filepath.Join(build, "DEBIAN", "control"), []byte(control), 0o644))
			file := fmt.Sprintf("%s_%s_all.deb", p.Name, p.Version)
			// A fixed build time makes one package built for two suites the same file, as a real archive serves it;
			// otherwise two builds a second apart differ, and apt shows the version from one suite only.
			cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", build, filepath.Join(sd, file))
			cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767225600")
			out, err := cmd.CombinedOutput()
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

// SharedAptRepo builds a repository with BuildAptRepo that an unprivileged login user of a test sshd can read
// (not under t.TempDir, whose parent is private to root), fetches its lists once with the real `apt-get update`
// as the separate, explicit step a device's own timer would take, and returns the apt.conf path for APT_CONFIG.
// It skips the test when apt-get, dpkg-deb or apt-config is missing.
func SharedAptRepo(t testing.TB, repo []DebPackage, installed map[string]string) string {
	t.Helper()
	for _, tool := range []string{"apt-get", "dpkg-deb", "apt-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir, err := os.MkdirTemp("", "infra-aptrepo-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	conf := BuildAptRepo(t, dir, repo, installed)
	update := exec.Command("apt-get", "update")
	update.Env = append(os.Environ(), "APT_CONFIG="+conf)
	out, err := update.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}))
	return conf
}
