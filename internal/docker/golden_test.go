package docker

import (
	"testing"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// sharedFixtures returns the directory of the shared recorded fixtures (../shared/fixtures beside the
// repository); see testenv.FixturesDir for when their absence skips and when it fails.
func sharedFixtures(t testing.TB) string {
	t.Helper()
	return testenv.FixturesDir(t)
}
