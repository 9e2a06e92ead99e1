package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPGCPUByClient(t *testing.T) {
	before := map[int]pgBackend{
		10: {Client: pgAppWorker, CPU: 5},
		11: {Client: pgAppAPI, CPU: 2},
		12: {Client: pgAppWorker, CPU: 1}, // exits in the window: not seen afterwards
		13: {Client: pgAppAPI, CPU: 3},    // exits, and its pid is reused by a worker connection
	}
	after := map[int]pgBackend{
		10: {Client: pgAppWorker, CPU: 7.5},
		11: {Client: pgAppAPI, CPU: 2.25},
		13: {Client: pgAppWorker, CPU: 0.5},
		14: {Client: "autovacuum worker", CPU: 1}, // started in the window
	}
	require.Equal(t, map[string]float64{pgAppWorker: 3, pgAppAPI: 0.25, "autovacuum worker": 1},
		pgCPUByClient(before, after))
}
