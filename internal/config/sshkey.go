package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// DefaultSSHKeyFile is the key the worker uses when INFRA_SSH_KEY is unset, relative to the data directory.
const DefaultSSHKeyFile = "ssh/id_ed25519"

// EnsureDefaultSSHKey returns the path of the worker's own ed25519 key in the data directory, generating it
// (mode 0600, with the .pub beside it) on first use, and its public key in authorized_keys form. Users add that
// public key to their devices; see deploy/device.
func EnsureDefaultSSHKey(dataDir string) (path, public string, err error) {
	path = filepath.Join(dataDir, DefaultSSHKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return "", "", fmt.Errorf("read %s: %w", path, err)
		}
		return path, string(ssh.MarshalAuthorizedKey(signer.PublicKey())), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "infrastructor")
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	public = string(ssh.MarshalAuthorizedKey(sshPub))
	if err := os.WriteFile(path+".pub", []byte(public), 0o644); err != nil {
		return "", "", err
	}
	return path, public, nil
}
