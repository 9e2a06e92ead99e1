package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

var units = []struct {
	file, role string
}{
	{"infrastructor-server.service", "server"},
	{"infrastructor-worker.service", "worker"},
}

// unitForVerify copies a unit into dir with its ExecStart binary replaced by one that exists here, since
// systemd-analyze verify checks that the command is executable.
func unitForVerify(t *testing.T, dir, file, binary string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "systemd", file))
	require.NoError(t, err)
	out := filepath.Join(dir, file)
	require.NoError(t, os.WriteFile(out, []byte(strings.ReplaceAll(string(src), "/usr/local/bin/infrastructor", binary)), 0o644))
	return out
}

// TestSystemdUnits checks the units with systemd's own parser (any warning fails) and its offline security
// assessment, and that each carries the hardening and settings the deployment guide promises.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: apt-get install -y systemd); cannot verify deploy/systemd")
	}
	binary, err := os.Executable() // any executable file will do for verify
	require.NoError(t, err)
	dir := t.TempDir()

	for _, u := range units {
		t.Run(u.role, func(t *testing.T) {
			path := unitForVerify(t, dir, u.file, binary)
			out, err := exec.Command(analyze, "verify", path).CombinedOutput()
			require.NoError(t, err, "systemd-analyze verify:\n%s", out)
			require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")

			out, err = exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
			require.NoError(t, err, "systemd-analyze security:\n%s", out)
			m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
			require.NotNil(t, m, "no exposure level in:\n%s", out)
			level, err := strconv.ParseFloat(string(m[1]), 64)
			require.NoError(t, err)
			require.LessOrEqual(t, level, 2.0, "exposure level of %s (0 = locked down, 10 = exposed):\n%s", u.file, out)

			src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "systemd", u.file))
			require.NoError(t, err)
			for _, line := range []string{
				"DynamicUser=yes",
				"NoNewPrivileges=yes",
				"ProtectSystem=strict",
				"PrivateTmp=yes",
				"StateDirectory=infrastructor",
				"EnvironmentFile=/etc/infrastructor/infrastructor.env",
				"ExecStartPre=/usr/local/bin/infrastructor migrate up",
				"ExecStart=/usr/local/bin/infrastructor " + u.role,
			} {
				require.Contains(t, strings.Split(string(src), "\n"), line, "%s lacks %q", u.file, line)
			}
		})
	}
}

// TestSystemdEnvFileDocumentsEverySetting checks that every INFRA_* setting is either in the example environment
// file or set by the units themselves.
func TestSystemdEnvFileDocumentsEverySetting(t *testing.T) {
	root := testenv.RepoRoot(t)
	var all strings.Builder
	for _, f := range []string{"infrastructor.env", "infrastructor-server.service", "infrastructor-worker.service"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", f))
		require.NoError(t, err)
		all.Write(b)
	}
	for _, s := range config.Settings {
		re := regexp.MustCompile(`(?m)(^#?|[\s=])` + regexp.QuoteMeta(s.Name) + `=`)
		require.True(t, re.MatchString(all.String()), "deploy/systemd does not set or describe %s", s.Name)
	}
}
