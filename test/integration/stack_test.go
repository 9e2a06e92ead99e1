// Package integration runs Infrastructor's real parts together: PostgreSQL, a Temporal dev server, the worker
// and the HTTP API in this process, and devices that are real OpenSSH servers (on loopback and in network
// namespaces).
package integration

import (
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stack is one running Infrastructor: worker and API in this process against real servers.
type stack struct {
	*teststack.Stack
	t *testing.T
}

func startStack(t *testing.T, signers []ssh.Signer, opts ...teststack.Option) *stack {
	t.Helper()
	return &stack{Stack: teststack.Start(t, append([]teststack.Option{teststack.WithSigners(signers...)}, opts...)...), t: t}
}

// do sends a request with the stack's admin token and decodes a JSON answer into out (when non-nil).
func (s *stack) do(method, path string, body any, out any) int {
	s.t.Helper()
	return s.Do(s.t, method, path, body, out)
}
