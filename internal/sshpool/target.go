package sshpool

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxJumpDepth bounds jump chains, which also stops a Target that points at
// itself through Jump.
const maxJumpDepth = 8

// Target says how to reach one device.
type Target struct {
	// DeviceID keys the pooled connection and the pinned host key.
	DeviceID string
	// Host is a DNS name or IP address, as seen from the jump host if any.
	Host string
	// Port is the SSH port; 0 means 22.
	Port int
	// User is the login user.
	User string
	// Jump, when set, is a bastion the connection is tunnelled through
	// (like OpenSSH's ProxyJump). Its host key is checked under its own
	// DeviceID.
	Jump *Target
}

// Addr returns host:port.
func (t Target) Addr() string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(port))
}

// String describes the target as user@host:port, with any jump hosts.
func (t Target) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s", t.User, t.Addr())
	for j := t.Jump; j != nil; j = j.Jump {
		fmt.Fprintf(&b, " via %s@%s", j.User, j.Addr())
	}
	return b.String()
}

// key identifies everything about how the connection is made, so a device
// whose address, user or jump host changed is redialled.
func (t Target) key() string {
	var b strings.Builder
	for h := &t; h != nil; h = h.Jump {
		fmt.Fprintf(&b, "%s=%s@%s;", h.DeviceID, h.User, h.Addr())
	}
	return b.String()
}

// chain returns the hops to connect, outermost jump host first.
func (t Target) chain() []Target {
	var hops []Target
	for h := &t; h != nil; h = h.Jump {
		hops = append([]Target{*h}, hops...)
	}
	return hops
}

func (t Target) validate() error {
	depth := 0
	for h := &t; h != nil; h = h.Jump {
		if depth++; depth > maxJumpDepth+1 {
			return fmt.Errorf("more than %d jump hosts", maxJumpDepth)
		}
		switch {
		case h.DeviceID == "":
			return errors.New("target without device ID")
		case h.Host == "":
			return fmt.Errorf("device %s: no host", h.DeviceID)
		case h.User == "":
			return fmt.Errorf("device %s: no user", h.DeviceID)
		case h.Port < 0 || h.Port > 65535:
			return fmt.Errorf("device %s: port %d out of range", h.DeviceID, h.Port)
		}
	}
	return nil
}
