package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/devicewrapper"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/migrations"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// binary builds the command once per test binary, so tests see real exit codes and output.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "infrastructor-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "infrastructor")
		cmd := exec.Command("go", "build", "-o", binPath, "-ldflags", "-X main.version=v9.8.7-test", ".")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	require.NoError(t, buildErr, "go build: %s", buildOut)
	return binPath
}

// runBinary runs the command with exactly env (plus PATH and HOME) and returns its exit code and output.
func runBinary(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

func TestHelpListsEverySubcommand(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"help", "--help", "-h"} {
		var out, errb bytes.Buffer
		require.NoError(t, run(context.Background(), []string{arg}, &out, &errb))
		for _, sub := range []string{"up", "server", "worker", "migrate up", "migrate status", "device-wrapper", "version", "help"} {
			require.Regexp(t, regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(sub)+`\s`), out.String(), "%s does not list %q", arg, sub)
		}
		require.Empty(t, errb.String())
	}
	// Without arguments the usage goes to stderr and the exit is non-zero.
	code, stdout, stderr := runBinary(t, nil)
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "migrate status")

	code, _, stderr = runBinary(t, nil, "frobnicate")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `unknown command "frobnicate"`)

	code, _, stderr = runBinary(t, nil, "migrate", "sideways")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "migrate up|status")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		code, stdout, stderr := runBinary(t, nil, arg)
		require.Zero(t, code, stderr)
		require.Equal(t, "infrastructor v9.8.7-test\n", stdout)
	}
}

// TestDeviceWrapper: the subcommand prints the wrapper the devices install, needing no configuration.
func TestDeviceWrapper(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"device-wrapper"}, &out, &errb))
	require.Equal(t, devicewrapper.Script(), out.String())
	require.True(t, strings.HasPrefix(out.String(), "#!/bin/sh\n"))
	require.Empty(t, errb.String())
}

// TestBadSettingIsOneLine: every role stops at once on a bad setting, with one line that names the variable.
func TestBadSettingIsOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"INFRA_LISTEN": "nonsense"}, "INFRA_LISTEN"},
		{map[string]string{"INFRA_LISTEN": "127.0.0.1:99999"}, "INFRA_LISTEN"},
		{map[string]string{"INFRA_DATABASE_URL": "mysql://x"}, "INFRA_DATABASE_URL"},
		{map[string]string{"INFRA_LOG_LEVEL": "loud"}, "INFRA_LOG_LEVEL"},
		{map[string]string{"INFRA_SHUTDOWN_TIMEOUT": "soon"}, "INFRA_SHUTDOWN_TIMEOUT"},
		{map[string]string{"INFRA_SECRET_KEY": "c2hvcnQ="}, "INFRA_SECRET_KEY"},
	}
	binary(t) // build first: the time limit is for start-up, not for compiling on a loaded machine
	for _, tc := range tests {
		for _, args := range [][]string{{"up"}, {"server"}, {"worker"}, {"migrate", "up"}, {"migrate", "status"}} {
			start := time.Now()
			code, stdout, stderr := runBinary(t, tc.env, args...)
			require.NotZero(t, code, "%v with %v", args, tc.env)
			require.Less(t, time.Since(start), 20*time.Second, "a bad setting must stop start-up at once")
			require.Empty(t, stdout)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			require.Len(t, lines, 1, "%v: want one line, got %q", args, stderr)
			require.Contains(t, lines[0], tc.name)
		}
	}
}

func TestMigrateUpThenStatus(t *testing.T) {
	t.Parallel()
	env := map[string]string{"INFRA_DATABASE_URL": testenv.PostgresURL(t), "INFRA_LOG_FORMAT": "text"}
	list, err := migrations.All()
	require.NoError(t, err)

	// Before: every migration pending.
	code, stdout, stderr := runBinary(t, env, "migrate", "status")
	require.Zero(t, code, stderr)
	for _, m := range list {
		require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`(?m)^%04d\s+%s\s+pending$`, m.Version, regexp.QuoteMeta(m.Name))), stdout)
	}

	code, _, stderr = runBinary(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "migrations up to date")

	code, stdout, stderr = runBinary(t, env, "migrate", "status")
	require.Zero(t, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, len(list)+1, "a header and one line per migration:\n%s", stdout)
	require.Regexp(t, `^VERSION\s+NAME\s+APPLIED$`, lines[0])
	for i, m := range list {
		fields := strings.Fields(lines[i+1])
		require.Len(t, fields, 3, lines[i+1])
		require.Equal(t, migrationID(m), fields[0]+" "+fields[1])
		at, err := time.Parse(time.RFC3339, fields[2])
		require.NoError(t, err, "migration %d is not shown as applied: %s", m.Version, lines[i+1])
		require.WithinDuration(t, time.Now(), at, 5*time.Minute)
	}

	// A second run applies nothing and succeeds.
	code, _, stderr = runBinary(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Regexp(t, `applied=0\b`, stderr)
}

func migrationID(m migrations.Migration) string { return fmt.Sprintf("%04d %s", m.Version, m.Name) }
