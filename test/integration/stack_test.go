// Package integration runs Infrastructor's real parts together: PostgreSQL, a Temporal dev server, the worker
// and the HTTP API in this process, and devices that are real OpenSSH servers (on loopback and in network
// namespaces).
package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
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
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode
}
