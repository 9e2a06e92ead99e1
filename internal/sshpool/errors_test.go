package sshpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestClassifyConnect(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	dialErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name        string
		ctx         context.Context
		err         error
		authStarted bool
		want        Kind
	}{
		{"refused", live, dialErr(syscall.ECONNREFUSED), false, Refused},
		{"no route", live, dialErr(syscall.EHOSTUNREACH), false, Unreachable},
		{"network unreachable", live, dialErr(syscall.ENETUNREACH), false, Unreachable},
		{"dns", live, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, false, Unreachable},
		{"connect deadline", expired, fmt.Errorf("ssh: handshake failed: %w", net.ErrClosed), false, Timeout},
		{"read deadline", live, fmt.Errorf("ssh: handshake failed: %w", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), false, Timeout},
		{"context deadline", live, context.DeadlineExceeded, false, Timeout},
		{"host key unknown", live, fmt.Errorf("ssh: handshake failed: %w", &HostKeyError{Kind: HostKeyUnknown}), true, HostKeyUnknown},
		{"host key changed", live, fmt.Errorf("ssh: handshake failed: %w", &HostKeyError{Kind: HostKeyChanged}), false, HostKeyChanged},
		{"auth exhausted", live, fmt.Errorf("ssh: handshake failed: %w", &authExhaustedError{}), true, AuthFailed},
		{"eof before banner", live, fmt.Errorf("ssh: handshake failed: %w", io.EOF), false, Closed},
		{"eof during auth is a link fault", live, fmt.Errorf("ssh: handshake failed: %w", io.EOF), true, Closed},
		{"reset", live, &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false, Closed},
		{"server disconnect during auth", live, errors.New("ssh: disconnect, reason 2: Too many authentication failures"), true, AuthFailed},
		{"jump host cannot connect", live, &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}, false, Unreachable},
		{"dropped", live, errDropped, false, Closed},
		{"unclassified", live, errors.New("ssh: no common algorithm"), false, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, classifyConnect(tt.ctx, tt.err, tt.authStarted))
		})
	}
}

func TestKindRetryable(t *testing.T) {
	tests := []struct {
		kind Kind
		want bool
	}{
		{Unknown, true},
		{Unreachable, true},
		{Refused, true},
		{Timeout, true},
		{Closed, true},
		{AuthFailed, false},
		{HostKeyUnknown, false},
		{HostKeyChanged, false},
		{CommandFailed, false},
		{Invalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			require.Equal(t, tt.want, tt.kind.Retryable())
		})
	}
}

func TestKindOf(t *testing.T) {
	err := fmt.Errorf("poll dev1: %w", &Error{Kind: Refused, DeviceID: "dev1", Op: "dial"})
	require.Equal(t, Refused, KindOf(err))
	require.Equal(t, Unknown, KindOf(errors.New("other")))
	require.Equal(t, Unknown, KindOf(nil))
}

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
		trunc  bool
	}{
		{"under", 10, []string{"abc", "def"}, "abcdef", false},
		{"exact", 6, []string{"abc", "def"}, "abcdef", false},
		{"split write", 4, []string{"abc", "def"}, "abcd", true},
		{"after full", 3, []string{"abc", "d"}, "abc", true},
		{"empty write when full", 3, []string{"abc", ""}, "abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &cappedBuffer{max: tt.max}
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n, "a capped write must still consume everything")
			}
			require.Equal(t, tt.want, string(b.buf))
			require.Equal(t, tt.trunc, b.truncated)
		})
	}
}

func TestTargetValidate(t *testing.T) {
	ok := Target{DeviceID: "d", Host: "h", User: "u"}
	loop := &Target{DeviceID: "j", Host: "h", User: "u"}
	loop.Jump = loop
	tests := []struct {
		name    string
		target  Target
		wantErr bool
	}{
		{"ok", ok, false},
		{"no id", Target{Host: "h", User: "u"}, true},
		{"no host", Target{DeviceID: "d", User: "u"}, true},
		{"no user", Target{DeviceID: "d", Host: "h"}, true},
		{"bad port", Target{DeviceID: "d", Host: "h", User: "u", Port: 70000}, true},
		{"bad jump", Target{DeviceID: "d", Host: "h", User: "u", Jump: &Target{DeviceID: "j"}}, true},
		{"jump loop", Target{DeviceID: "d", Host: "h", User: "u", Jump: loop}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.target.validate()
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestTargetKeyAndChain(t *testing.T) {
	jump := &Target{DeviceID: "bastion", Host: "10.0.0.1", User: "ops"}
	tgt := Target{DeviceID: "inner", Host: "192.168.1.5", Port: 2222, User: "root", Jump: jump}
	require.Equal(t, "192.168.1.5:2222", tgt.Addr())
	require.Equal(t, "10.0.0.1:22", jump.Addr())
	require.Equal(t, "root@192.168.1.5:2222 via ops@10.0.0.1:22", tgt.String())
	chain := tgt.chain()
	require.Len(t, chain, 2)
	require.Equal(t, "bastion", chain[0].DeviceID)
	require.Equal(t, "inner", chain[1].DeviceID)

	moved := tgt
	moved.Port = 22
	require.NotEqual(t, tgt.key(), moved.key(), "a moved device must be redialled")
	noJump := tgt
	noJump.Jump = nil
	require.NotEqual(t, tgt.key(), noJump.key())
}

func TestPinnedKeys(t *testing.T) {
	ctx := context.Background()
	a := mustSigner(t).PublicKey()
	b := mustSigner(t).PublicKey()

	pins := NewPinnedKeys()
	var hk *HostKeyError
	require.ErrorAs(t, pins.CheckHostKey(ctx, "d", a), &hk)
	require.Equal(t, HostKeyUnknown, hk.Kind)
	require.Equal(t, ssh.FingerprintSHA256(a), hk.Fingerprint)

	pins.Pin("d", a)
	require.NoError(t, pins.CheckHostKey(ctx, "d", a))
	require.ErrorAs(t, pins.CheckHostKey(ctx, "d", b), &hk)
	require.Equal(t, HostKeyChanged, hk.Kind)
	require.Equal(t, "d", hk.DeviceID)
	require.Equal(t, b.Marshal(), hk.Offered.Marshal())

	tofu := &PinnedKeys{TrustOnFirstUse: true}
	require.NoError(t, tofu.CheckHostKey(ctx, "d", a))
	got, ok := tofu.Key("d")
	require.True(t, ok)
	require.Equal(t, a.Marshal(), got.Marshal())
	require.ErrorAs(t, tofu.CheckHostKey(ctx, "d", b), &hk, "first use pins; a later different key is a change")
	require.Equal(t, HostKeyChanged, hk.Kind)
}
