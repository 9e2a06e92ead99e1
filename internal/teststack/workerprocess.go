package teststack

import (
	"testing"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// WorkerProcesses prepares `infrastructor worker` processes for the stack (started WithoutWorker), which log in to
// devices with the private key at sshKeyPath: a test kills one as a crash does and starts another.
func (s *Stack) WorkerProcesses(t testing.TB, sshKeyPath string) *testenv.WorkerProcesses {
	t.Helper()
	return testenv.NewWorkerProcesses(t, testenv.WorkerProcessOptions{DatabaseURL: s.DBURL, TemporalAddress: s.Temporal,
		TaskQueue: s.TaskQueue, SSHKeyPath: sshKeyPath})
}
