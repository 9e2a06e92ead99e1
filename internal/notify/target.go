package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenTarget means a channel's URL points at an address notifications may not reach: loopback (unless
// allowed), link-local (which includes cloud metadata services at 169.254.169.254), unspecified, or a well-known
// metadata host name. Without this guard an admin token, or anyone who can edit a channel, could make the worker
// post to services that trust requests from the worker's own host (#15).
var ErrForbiddenTarget = errors.New("forbidden notification target")

// Targets decides which addresses notifications may reach. LAN ranges (10/8, 172.16/12, 192.168/16, fc00::/7,
// 100.64/10) are always allowed: homelab Gotify servers live there. The zero value refuses loopback.
type Targets struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1, for a receiver on the worker's own host.
	AllowLoopback bool
}

// metadataHosts are cloud metadata service names; they resolve to link-local addresses on the cloud itself, but
// a local resolver could map them anywhere, so the name alone is refused.
var metadataHosts = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"metadata.azure.com":         true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// CheckIP returns an error wrapping ErrForbiddenTarget when ip may not be reached.
func (t Targets) CheckIP(ip netip.Addr) error {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: no address", ErrForbiddenTarget)
	case ip.IsUnspecified():
		return fmt.Errorf("%w: %s is the unspecified address", ErrForbiddenTarget, ip)
	case ip.IsLoopback() && !t.AllowLoopback:
		return fmt.Errorf("%w: %s is a loopback address (INFRA_NOTIFY_ALLOW_LOOPBACK=true allows it)", ErrForbiddenTarget, ip)
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is a link-local address (cloud metadata services live there)", ErrForbiddenTarget, ip)
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrForbiddenTarget, ip)
	}
	return nil
}

// CheckHost checks a host name or address literal: a metadata name is refused outright; a name is resolved and
// every address must pass CheckIP. A name that does not resolve now is accepted: the receiver may be down or
// its DNS not yet set up, and every connection is checked again when it is made.
func (t Targets) CheckHost(ctx context.Context, r *net.Resolver, host string) error {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return t.CheckIP(ip)
	}
	if metadataHosts[host] {
		return fmt.Errorf("%w: %s is a cloud metadata service", ErrForbiddenTarget, host)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		// RFC 6761: always loopback, whatever the resolver says.
		return t.CheckIP(netip.IPv6Loopback())
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := t.CheckIP(a); err != nil {
			return fmt.Errorf("%s resolves to a forbidden address: %w", host, err)
		}
	}
	return nil
}

// CheckURL checks the host of a channel URL (see CheckHost).
func (t Targets) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	return t.CheckHost(ctx, nil, u.Hostname())
}

// control refuses a connection to a forbidden address. It runs after name resolution, on the address actually
// dialled, so a name that resolved to a LAN address when the channel was saved and to 127.0.0.1 now (DNS
// rebinding) is still refused.
func (t Targets) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrForbiddenTarget, address)
	}
	return t.CheckIP(ap.Addr())
}

// NewClient returns the HTTP client notifications are sent with: it connects only to addresses t allows, uses no
// proxy (a proxy would make the address check meaningless), and never follows redirects: a redirect would carry
// the channel's token header to whatever host the receiver names, so it is answered as a failed delivery.
func NewClient(t Targets, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: t.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
