// Package secret encrypts credentials kept in the database (notification channels' tokens and signing secrets),
// so a database dump or backup alone does not give them away (#15). Values are sealed with AES-256-GCM under a
// 32-byte key from INFRA_SECRET_KEY or from a key file in the data directory.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Prefix marks a sealed value. The version names the key and algorithm, so a later key rotation can tell old
// values from new ones and re-seal them.
const Prefix = "v1:"

// KeyFile is the key's file name in the data directory when INFRA_SECRET_KEY is unset.
const KeyFile = "secret.key"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

// ErrNoKey means a sealed value was met, or a value had to be sealed, without a key.
var ErrNoKey = errors.New("no secret key configured (INFRA_SECRET_KEY or $INFRA_DATA_DIR/" + KeyFile + ")")

// ErrWrongKey means a sealed value does not open with the key: a different INFRA_SECRET_KEY or key file than the
// one it was sealed with, or a damaged value.
var ErrWrongKey = errors.New("cannot decrypt: the secret key differs from the one the value was encrypted with (INFRA_SECRET_KEY or $INFRA_DATA_DIR/" + KeyFile + "), or the value is damaged")

// Box seals and opens values. A nil *Box has no key: Open passes plaintext through and fails on sealed values,
// Seal fails.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// IsSealed reports whether v is a sealed value (as opposed to legacy plaintext or "").
func IsSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// Seal encrypts plain. "" stays "", so "not set" remains visible without the key.
func (b *Box) Seal(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if b == nil {
		return "", ErrNoKey
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(Prefix))
	return Prefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value. A value without Prefix is plaintext stored before encryption existed and is
// returned as it is, so those channels keep working until they are re-sealed.
func (b *Box) Open(v string) (string, error) {
	if !IsSealed(v) {
		return v, nil
	}
	if b == nil {
		return "", ErrNoKey
	}
	raw, err := base64.RawStdEncoding.DecodeString(v[len(Prefix):])
	ns := b.aead.NonceSize()
	if err != nil || len(raw) < ns+b.aead.Overhead() {
		return "", ErrWrongKey
	}
	plain, err := b.aead.Open(nil, raw[:ns], raw[ns:], []byte(Prefix))
	if err != nil {
		return "", ErrWrongKey
	}
	return string(plain), nil
}

// ParseKey decodes a key given as base64 (standard or URL alphabet, padded or not) of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("want base64 of %d bytes, got %d bytes", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("want base64 of %d bytes (openssl rand -base64 32)", KeySize)
}

// Load returns the Box for the configured key: envKey (INFRA_SECRET_KEY's value) when set, otherwise the key in
// dataDir/secret.key, generated there (mode 0600) on first start. Every process that reads the channels (API and
// worker) must use the same key: set INFRA_SECRET_KEY when they do not share a data directory.
func Load(envKey, dataDir string) (*Box, error) {
	if envKey != "" {
		k, err := ParseKey(envKey)
		if err != nil {
			return nil, fmt.Errorf("INFRA_SECRET_KEY: %w", err)
		}
		return New(k)
	}
	path := filepath.Join(dataDir, KeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return New(k)
}

// create writes a new random key to path, unless another process created it first (then that key is used). The
// key is written to a temporary file and linked into place, so no reader ever sees a half-written key.
func create(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	text := []byte(base64.StdEncoding.EncodeToString(k) + "\n")
	f, err := os.CreateTemp(dir, KeyFile+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return text, nil
}
