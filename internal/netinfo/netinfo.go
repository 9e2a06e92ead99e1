// Package netinfo builds the read-only script that describes a device's network interfaces and default routes
// with iproute2's JSON output, and parses it and Docker's network listings. It does no I/O: the SSH layer sends
// Script() to `sh -s`; parsing is pure.
package netinfo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what the parsers accept and return, whatever a device prints.
const (
	// MaxInputBytes bounds one JSON document; a larger one fails with ErrLimit before decoding, because the
	// decoder's memory grows with its input.
	MaxInputBytes = 8 << 20
	// MaxInterfaces is the most interfaces kept (a Docker host can have hundreds of veths); more are dropped
	// and the result says so.
	MaxInterfaces = 4096
	// MaxAddresses bounds the addresses of one interface.
	MaxAddresses = 256
	// MaxRoutes bounds the default routes kept.
	MaxRoutes = 64
	// MaxNetworks bounds the Docker networks kept.
	MaxNetworks = 1024
	// MaxAttached bounds the containers kept per Docker network.
	MaxAttached = 4096
	// MaxFieldBytes bounds every string field.
	MaxFieldBytes = 256
)

// ErrLimit reports input larger than MaxInputBytes.
var ErrLimit = errors.New("netinfo: output exceeds the parser's limits")

func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Address is one address of an interface with its prefix length.
type Address struct {
	Family string `json:"family"` // "inet" or "inet6"
	// CIDR is the address with its prefix, "192.168.1.10/24".
	CIDR  string `json:"cidr"`
	Scope string `json:"scope,omitempty"`
}

// Prefix returns the network the address belongs to ("192.168.1.0/24"), or "" when CIDR does not parse.
func (a Address) Prefix() string {
	p, err := netip.ParsePrefix(a.CIDR)
	if err != nil {
		return ""
	}
	return p.Masked().String()
}

// Interface is one network interface.
type Interface struct {
	Name string `json:"name"`
	// Kind is linkinfo.info_kind (bridge, veth, vlan, bond, wireguard, ...) and "" for a physical device or
	// when the output came without -d; LinkType is "ether", "loopback", "none"...
	Kind      string `json:"kind,omitempty"`
	LinkType  string `json:"link_type,omitempty"`
	MAC       string `json:"mac,omitempty"`
	MTU       int    `json:"mtu"`
	OperState string `json:"oper_state"`
	// Up is the administrative state (flag UP).
	Up bool `json:"up"`
	// Master is the bridge or bond this interface is enslaved to.
	Master    string    `json:"master,omitempty"`
	Addresses []Address `json:"addresses"`
}

// Route is a default route.
type Route struct {
	Family  string `json:"family"`
	Gateway string `json:"gateway,omitempty"`
	Dev     string `json:"dev,omitempty"`
	Metric  int    `json:"metric,omitempty"`
}

type ipLink struct {
	IfName    string   `json:"ifname"`
	Flags     []string `json:"flags"`
	MTU       int      `json:"mtu"`
	OperState string   `json:"operstate"`
	LinkType  string   `json:"link_type"`
	Address   string   `json:"address"`
	Master    string   `json:"master"`
	LinkInfo  *struct {
		InfoKind string `json:"info_kind"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

func checkSize(b []byte) error {
	if len(b) > MaxInputBytes {
		return fmt.Errorf("%d bytes, more than %d: %w", len(b), MaxInputBytes, ErrLimit)
	}
	return nil
}

// ParseInterfaces reads `ip -j addr show`, `ip -j link show` or either with -d (which adds linkinfo, hence the
// kind). It returns the interfaces sorted by name, and whether some were dropped at the limits.
func ParseInterfaces(b []byte) ([]Interface, bool, error) {
	if err := checkSize(b); err != nil {
		return nil, false, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return []Interface{}, false, nil
	}
	var raw []ipLink
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false, fmt.Errorf("ip -j: decode: %w", err)
	}
	truncated := false
	out := make([]Interface, 0, min(len(raw), MaxInterfaces))
	for _, l := range raw {
		if l.IfName == "" {
			continue
		}
		if len(out) >= MaxInterfaces {
			truncated = true
			break
		}
		it := Interface{
			Name: clip(l.IfName, MaxFieldBytes), LinkType: clip(l.LinkType, MaxFieldBytes), MAC: clip(l.Address, MaxFieldBytes),
			MTU: l.MTU, OperState: clip(l.OperState, MaxFieldBytes), Master: clip(l.Master, MaxFieldBytes), Addresses: []Address{},
		}
		if l.LinkInfo != nil {
			it.Kind = clip(l.LinkInfo.InfoKind, MaxFieldBytes)
		}
		for _, f := range l.Flags {
			if f == "UP" {
				it.Up = true
			}
		}
		for _, a := range l.AddrInfo {
			if len(it.Addresses) >= MaxAddresses {
				truncated = true
				break
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil || a.PrefixLen < 0 || a.PrefixLen > addr.BitLen() {
				continue
			}
			it.Addresses = append(it.Addresses, Address{Family: clip(a.Family, 16), CIDR: netip.PrefixFrom(addr, a.PrefixLen).String(), Scope: clip(a.Scope, MaxFieldBytes)})
		}
		out = append(out, it)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated, nil
}

// ParseDefaultRoutes reads `ip -j route show default` (family "inet") or `ip -j -6 route show default`
// ("inet6").
func ParseDefaultRoutes(b []byte, family string) ([]Route, error) {
	if err := checkSize(b); err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return []Route{}, nil
	}
	var raw []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Metric  int    `json:"metric"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("ip -j route: decode: %w", err)
	}
	out := []Route{}
	for _, r := range raw {
		if r.Dst != "default" || len(out) >= MaxRoutes {
			continue
		}
		out = append(out, Route{Family: family, Gateway: clip(r.Gateway, MaxFieldBytes), Dev: clip(r.Dev, MaxFieldBytes), Metric: r.Metric})
	}
	return out, nil
}

const marker = "@@infra-net "

// script prints the interfaces with details (linkinfo gives the kind) and both families' default routes, each
// section ended by its exit status. iproute2 older than 4.13 has no -j: the section then fails and says so.
const script = `export LC_ALL=C
m() { echo "@@infra-net $*"; }
m begin addr; ip -d -j addr show 2>&1; m end addr $?
m begin route4; ip -j -4 route show default 2>&1; m end route4 $?
m begin route6; ip -j -6 route show default 2>&1; m end route6 $?
`

// Script returns the sh script (for `sh -s`) that describes the device's interfaces and default routes; parse
// its output with Parse. It takes no arguments.
func Script() string { return script }

// Host is the network description of one device.
type Host struct {
	Interfaces    []Interface `json:"interfaces"`
	DefaultRoutes []Route     `json:"default_routes"`
	Truncated     bool        `json:"truncated,omitempty"`
	// Errors name the sections that failed, with the first line of their output.
	Errors []string `json:"errors,omitempty"`
}

// Parse reads the output of Script.
func Parse(out []byte) (*Host, error) {
	if err := checkSize(out); err != nil {
		return nil, err
	}
	h := &Host{Interfaces: []Interface{}, DefaultRoutes: []Route{}}
	seen := false
	var sec string
	start := 0
	pos := 0
	for pos < len(out) {
		end := bytes.IndexByte(out[pos:], '\n')
		if end < 0 {
			end = len(out)
		} else {
			end += pos
		}
		line := out[pos:end]
		lineStart := pos
		pos = end + 1
		m, ok := bytes.CutPrefix(line, []byte(marker))
		if !ok {
			continue
		}
		seen = true
		f := strings.Fields(string(m))
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "begin":
			sec, start = f[1], pos
		case "end":
			if f[1] != sec || start > lineStart {
				sec = ""
				continue
			}
			body := out[start:lineStart]
			code := -1
			if len(f) > 2 {
				code, _ = strconv.Atoi(f[2])
			}
			h.section(sec, body, code)
			sec = ""
		}
	}
	if !seen {
		return nil, errors.New("netinfo: output has no section markers")
	}
	return h, nil
}

func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return clip(string(b), MaxFieldBytes)
}

func (h *Host) fail(sec string, msg string) {
	if len(h.Errors) < 8 {
		h.Errors = append(h.Errors, clip(sec+": "+msg, 2*MaxFieldBytes))
	}
}

func (h *Host) section(sec string, body []byte, code int) {
	if code != 0 {
		h.fail(sec, firstLine(body))
		return
	}
	switch sec {
	case "addr":
		ifs, trunc, err := ParseInterfaces(body)
		if err != nil {
			h.fail(sec, err.Error())
			return
		}
		h.Interfaces, h.Truncated = ifs, h.Truncated || trunc
	case "route4", "route6":
		fam := "inet"
		if sec == "route6" {
			fam = "inet6"
		}
		rs, err := ParseDefaultRoutes(body, fam)
		if err != nil {
			h.fail(sec, err.Error())
			return
		}
		h.DefaultRoutes = append(h.DefaultRoutes, rs...)
	}
}

// Subnets returns the distinct global-scope networks the host has an address in ("192.168.1.0/24"), sorted:
// what get_network_topology compares between hosts. Loopback and link-local networks are left out.
func (h *Host) Subnets() []string {
	set := map[string]bool{}
	for _, it := range h.Interfaces {
		for _, a := range it.Addresses {
			p, err := netip.ParsePrefix(a.CIDR)
			if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() {
				continue
			}
			set[p.Masked().String()] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
