package testenv

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPGClusterSettings: the extra settings apply at the first start and again after a restart.
func TestPGClusterSettings(t *testing.T) {
	t.Parallel()
	c := StartPGCluster(t, PGClusterOptions{Settings: []string{"work_mem=7MB"}})
	workMem := func() string {
		conn := connect(t, c.URL("postgres"))
		var v string
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT current_setting('work_mem')`).Scan(&v))
		return v
	}
	require.Equal(t, "7MB", workMem())
	c.Stop()
	c.Start()
	require.Equal(t, "7MB", workMem())
}

// TestPostgresExtensionInstalled: plpgsql ships with every server; a made-up extension does not exist.
func TestPostgresExtensionInstalled(t *testing.T) {
	t.Parallel()
	ok, err := PostgresExtensionInstalled("plpgsql")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = PostgresExtensionInstalled("no_such_extension_here")
	require.NoError(t, err)
	require.False(t, ok)
}
