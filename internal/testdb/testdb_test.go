package testdb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/migrations"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPoolIsFullyMigrated checks that a copy of the template is what migrations.Up on a fresh database gives:
// every migration recorded, nothing left to apply.
func TestPoolIsFullyMigrated(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			pool := testdb.Pool(t)
			st, err := migrations.Status(context.Background(), pool)
			require.NoError(t, err)
			all, err := migrations.All()
			require.NoError(t, err)
			require.Len(t, st, len(all))
			for _, m := range st {
				require.NotNil(t, m.AppliedAt, "migration %04d_%s pending in a testdb database", m.Version, m.Name)
			}
			// A test's writes stay in its own copy.
			_, err = pool.Exec(context.Background(), `CREATE TABLE only_here (x int)`)
			require.NoError(t, err)
		})
	}
}
