package sshpool

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"golang.org/x/crypto/ssh"
)

// HostKeyChecker decides whether a device's host key is trusted. The pool
// asks it on every new connection, before authenticating.
type HostKeyChecker interface {
	// CheckHostKey returns nil to accept key for the device, a *HostKeyError
	// when the key is unknown or differs from the pinned one, or any other
	// error (for example a failed database lookup), which the pool wraps and
	// returns from Run.
	CheckHostKey(ctx context.Context, deviceID string, key ssh.PublicKey) error
}

// HostKeyError reports a host key that is not trusted for a device.
type HostKeyError struct {
	// Kind is HostKeyUnknown or HostKeyChanged.
	Kind Kind
	// DeviceID is the device that offered the key (a jump host's own ID
	// when the jump host's key is the problem).
	DeviceID string
	// Offered is the key the device presented.
	Offered ssh.PublicKey
	// Fingerprint is Offered's SHA256 fingerprint, as `ssh-keygen -l` prints
	// it, for showing to the operator who approves it.
	Fingerprint string
}

// NewHostKeyError builds a HostKeyError for key, filling in the fingerprint.
func NewHostKeyError(kind Kind, deviceID string, key ssh.PublicKey) *HostKeyError {
	return &HostKeyError{Kind: kind, DeviceID: deviceID, Offered: key, Fingerprint: ssh.FingerprintSHA256(key)}
}

// Error implements error.
func (e *HostKeyError) Error() string {
	keyType := ""
	if e.Offered != nil {
		keyType = e.Offered.Type() + " "
	}
	return fmt.Sprintf("%s for device %s: offered %s%s", e.Kind, e.DeviceID, keyType, e.Fingerprint)
}

// PinnedKeys is an in-memory HostKeyChecker holding one pinned key per
// device, for tests and the simulator; the product keeps pins in its
// database.
type PinnedKeys struct {
	// TrustOnFirstUse pins the first key a device offers instead of
	// reporting it as unknown.
	TrustOnFirstUse bool

	mu   sync.Mutex
	keys map[string]ssh.PublicKey
}

// NewPinnedKeys returns an empty set of pins.
func NewPinnedKeys() *PinnedKeys {
	return &PinnedKeys{keys: map[string]ssh.PublicKey{}}
}

// Pin trusts key for the device, replacing any earlier pin (the operator
// approved a new key).
func (p *PinnedKeys) Pin(deviceID string, key ssh.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil {
		p.keys = map[string]ssh.PublicKey{}
	}
	p.keys[deviceID] = key
}

// Unpin forgets the device's key.
func (p *PinnedKeys) Unpin(deviceID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.keys, deviceID)
}

// Key returns the key pinned for the device.
func (p *PinnedKeys) Key(deviceID string) (ssh.PublicKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.keys[deviceID]
	return k, ok
}

// CheckHostKey implements HostKeyChecker.
func (p *PinnedKeys) CheckHostKey(_ context.Context, deviceID string, key ssh.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pinned, ok := p.keys[deviceID]
	switch {
	case ok && bytes.Equal(pinned.Marshal(), key.Marshal()):
		return nil
	case ok:
		return NewHostKeyError(HostKeyChanged, deviceID, key)
	case p.TrustOnFirstUse:
		if p.keys == nil {
			p.keys = map[string]ssh.PublicKey{}
		}
		p.keys[deviceID] = key
		return nil
	default:
		return NewHostKeyError(HostKeyUnknown, deviceID, key)
	}
}
