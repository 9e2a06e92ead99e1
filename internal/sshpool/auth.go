package sshpool

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// LoadSigners reads unencrypted private key files (OpenSSH, PEM or PKCS#8).
// Encrypted keys belong in ssh-agent (Config.UseAgent).
func LoadSigners(paths ...string) ([]ssh.Signer, error) {
	signers := make([]ssh.Signer, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load ssh key: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, fmt.Errorf("load ssh key %s: key is encrypted, add it to ssh-agent instead: %w", path, err)
			}
			return nil, fmt.Errorf("load ssh key %s: %w", path, err)
		}
		signers = append(signers, signer)
	}
	return signers, nil
}

// authState follows one handshake's authentication so its outcome can be
// classified by type rather than by x/crypto's message text.
type authState struct {
	mu      sync.Mutex
	started bool
}

func (a *authState) markStarted() {
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
}

func (a *authState) authStarted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started
}

// authCallback offers our keys (files and agent together, as one
// "publickey" method) and, once that has been rejected, aborts with an
// *authExhaustedError.
func (p *Pool) authCallback(user string, st *authState, agentConn *agentDialer) ssh.ClientAuthCallback {
	method := ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		signers := slices.Clone(p.signers)
		if p.cfg.UseAgent {
			fromAgent, err := agentConn.signers()
			if err != nil && len(signers) == 0 {
				return nil, err
			}
			signers = append(signers, fromAgent...)
		}
		return signers, nil
	})
	return func(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
		st.markStarted()
		if slices.Contains(ctx.AllowedMethods, "publickey") && !slices.Contains(ctx.TriedMethods, "publickey") {
			return method, nil
		}
		return nil, &authExhaustedError{user: user, tried: ctx.TriedMethods, allowed: ctx.AllowedMethods}
	}
}

// agentDialer connects to ssh-agent lazily, only when the server asks for
// keys, and is closed after the handshake.
type agentDialer struct {
	mu   sync.Mutex
	conn net.Conn
}

func (a *agentDialer) signers() ([]ssh.Signer, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("ssh-agent: SSH_AUTH_SOCK not set")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent: %w", err)
		}
		a.conn = conn
	}
	signers, err := agent.NewClient(a.conn).Signers()
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	return signers, nil
}

func (a *agentDialer) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn = nil
	}
}
