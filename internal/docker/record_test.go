package docker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRecord re-records testdata/recorded from a real Docker engine. It runs only when INFRA_DOCKER_RECORD names
// the containers to inspect (comma-separated) and DOCKER_HOST points at the engine, e.g.
//
//	INFRA_DOCKER_RECORD=web-1,failing DOCKER_HOST=unix:///tmp/x/docker.sock go test -run TestRecord ./internal/docker
//
// Every command goes through /bin/sh -c exactly as the SSH layer sends it. Files are named <what>.out, .err and
// .exit (stdout, stderr, exit status).
func TestRecord(t *testing.T) {
	names := os.Getenv("INFRA_DOCKER_RECORD")
	if names == "" {
		t.Skip("set INFRA_DOCKER_RECORD and DOCKER_HOST to record outputs from a Docker engine")
	}
	inspect, err := Inspect(slices.Collect(listItems(names))...)
	require.NoError(t, err)
	for _, c := range []struct{ name, cmd string }{
		{"inventory", Inventory()},
		{"inspect", inspect},
		{"cgroup", CgroupStats()},
		{"stats", Stats()},
		{"probe", Probe()},
	} {
		stdout, stderr, code := runShell(t, c.cmd, nil)
		base := filepath.Join("testdata", "recorded", c.name)
		require.NoError(t, os.WriteFile(base+".out", stdout, 0o644))
		require.NoError(t, os.WriteFile(base+".err", stderr, 0o644))
		require.NoError(t, os.WriteFile(base+".exit", []byte(strconv.Itoa(code)+"\n"), 0o644))
	}
}

// runShell runs cmd like sshd does, through /bin/sh -c, with extra environment entries, and returns stdout,
// stderr and the exit status.
func runShell(t testing.TB, cmd string, env []string) ([]byte, []byte, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "run %q: %v", cmd, err)
		code = ee.ExitCode()
	}
	return out.Bytes(), errb.Bytes(), code
}
