package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestMigrateTimescaleDBOnPlainPostgreSQL: the upgrade command is listed, wants the migrations applied first, and on
// a server without TimescaleDB preloaded fails with one line that says what to do, changing nothing. Its success
// on TimescaleDB is tested in test/timescale.
func TestMigrateTimescaleDBOnPlainPostgreSQL(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, &out, &errb))
	require.Regexp(t, regexp.MustCompile(`(?m)^  migrate timescaledb\s`), out.String())

	env := map[string]string{"INFRA_DATABASE_URL": testenv.PostgresURL(t), "INFRA_LOG_FORMAT": "text"}
	code, stdout, stderr := runBinary(t, env, "migrate", "timescaledb")
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "run `infrastructor migrate up` first")

	code, _, stderr = runBinary(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	code, stdout, stderr = runBinary(t, env, "migrate", "timescaledb")
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	require.Len(t, lines, 1, stderr)
	require.Contains(t, lines[0], "timescaledb is not available")
	require.Contains(t, lines[0], "shared_preload_libraries")
}
