package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTargetsCheckIP(t *testing.T) {
	tests := []struct {
		ip               string
		strict, loopback bool // allowed by the zero Targets, and with AllowLoopback
	}{
		{"192.168.1.20", true, true},
		{"10.0.0.5", true, true},
		{"172.16.3.4", true, true},
		{"100.100.1.2", true, true}, // Tailscale CGNAT
		{"fd12:3456::1", true, true},
		{"93.184.216.34", true, true},
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		err := Targets{}.CheckIP(ip)
		require.Equal(t, tc.strict, err == nil, "%s strict: %v", tc.ip, err)
		if err != nil {
			require.ErrorIs(t, err, ErrForbiddenTarget)
		}
		err = Targets{AllowLoopback: true}.CheckIP(ip)
		require.Equal(t, tc.loopback, err == nil, "%s with loopback allowed: %v", tc.ip, err)
	}
}

func TestTargetsCheckURL(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:8080/", "http://[::1]/", "http://localhost:80", "http://LocalHost./x",
		"http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
		"http://0.0.0.0:80", "http://[fe80::1%25eth0]/"} {
		require.ErrorIs(t, Targets{}.CheckURL(ctx, u), ErrForbiddenTarget, u)
	}
	for _, u := range []string{"http://192.168.1.5:8080/", "https://gotify.lan.example.invalid/", "http://10.1.1.1/"} {
		require.NoError(t, Targets{}.CheckURL(ctx, u), u)
	}
	require.NoError(t, Targets{AllowLoopback: true}.CheckURL(ctx, "http://localhost:8080"))
	require.ErrorIs(t, Targets{AllowLoopback: true}.CheckURL(ctx, "http://169.254.169.254/"), ErrForbiddenTarget)
}

// TestDialRefusesForbiddenAddress: the check runs on the address actually dialled, after name resolution, so a
// name that passed validation and now resolves to loopback (DNS rebinding) is refused too.
func TestDialRefusesForbiddenAddress(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		err := (&Sender{}).Send(context.Background(), Channel{Type: TypeGotify, URL: u, Token: "t"}, msg)
		require.ErrorIs(t, err, ErrForbiddenTarget, u)
		var temp *TemporaryError
		require.NotErrorAs(t, err, &temp, "a forbidden target is not retried")
	}
	require.Zero(t, hits.Load())
	require.NoError(t, lo().Send(context.Background(), Channel{Type: TypeGotify, URL: srv.URL, Token: "t"}, msg))
	require.EqualValues(t, 1, hits.Load())
}
