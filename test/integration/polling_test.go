package integration

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

const pollInterval = 5 * time.Second

type deviceView struct {
	ID           uuid.UUID `json:"id"`
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason"`
}

func (s *stack) createDevice(name, host string, port int, user, policy string) deviceView {
	s.t.Helper()
	var d deviceView
	code := s.do("POST", "/api/v1/devices", map[string]any{"name": name, "host": host, "port": port, "user": user,
		"poll_interval": pollInterval.String(), "host_key_policy": policy}, &d)
	require.Equal(s.t, 201, code)
	return d
}

func (s *stack) device(id uuid.UUID) deviceView {
	s.t.Helper()
	var d deviceView
	require.Equal(s.t, 200, s.do("GET", "/api/v1/devices/"+id.String(), nil, &d))
	return d
}

func (s *stack) samples(id uuid.UUID) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_metrics WHERE device_id = $1`, id).Scan(&n))
	return n
}

func (s *stack) eventKinds(id uuid.UUID) []string {
	s.t.Helper()
	var out struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", "/api/v1/events?device_id="+id.String(), nil, &out))
	kinds := make([]string, 0, len(out.Items))
	for _, e := range out.Items {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func (s *stack) waitStatus(id uuid.UUID, status, reason string, within time.Duration) {
	s.t.Helper()
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		d := s.device(id)
		assert.Equal(c, status, d.Status)
		if reason != "" {
			assert.Contains(c, d.StatusReason, reason)
		}
	}, within, 250*time.Millisecond)
}

func (s *stack) waitSamples(id uuid.UUID, atLeast int, within time.Duration) {
	s.t.Helper()
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, s.samples(id), atLeast)
	}, within, 250*time.Millisecond)
}

// maxGap is the longest time between consecutive samples of the device since `since`.
func (s *stack) maxGap(id uuid.UUID, since time.Time) time.Duration {
	s.t.Helper()
	var gap *time.Duration
	require.NoError(s.t, s.DB.QueryRow(context.Background(), `SELECT max(d) FROM (SELECT time - lag(time) OVER (ORDER BY time) AS d
		FROM system_metrics WHERE device_id = $1 AND time >= $2) g`, id, since).Scan(&gap))
	if gap == nil {
		return 0
	}
	return *gap
}

func (s *stack) approve(id uuid.UUID, fingerprint string) {
	s.t.Helper()
	var key struct {
		State       string `json:"state"`
		Fingerprint string `json:"fingerprint"`
	}
	require.Equal(s.t, 200, s.do("POST", "/api/v1/devices/"+id.String()+"/host-key/approve", map[string]any{"fingerprint": fingerprint}, &key))
	require.Equal(s.t, "approved", key.State)
	require.Equal(s.t, fingerprint, key.Fingerprint)
}

// hangingListener accepts TCP connections and never says a word, like an sshd stuck after accept.
func hangingListener(t *testing.T) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// TestPollingFleet drives the whole poll path through the API: devices on loopback and in network namespaces are
// polled on schedule, a cut link makes one offline while the others keep their schedule, it comes back without
// a spike, a changed host key blocks it until an administrator approves, and a device that hangs after accept
// stalls nobody.
func TestPollingFleet(t *testing.T) {
	local := testenv.StartSSHD(t, testenv.SSHDOptions{})
	nsA, nsB := testenv.NewNetns(t), testenv.NewNetns(t)
	sshA := testenv.StartSSHD(t, testenv.SSHDOptions{Netns: nsA.Name, Addr: nsA.IP + ":22"})
	sshB := testenv.StartSSHD(t, testenv.SSHDOptions{Netns: nsB.Name, Addr: nsB.IP + ":22"})
	hangHost, hangPort := hangingListener(t)

	s := startStack(t, []ssh.Signer{local.ClientSigner, sshA.ClientSigner, sshB.ClientSigner})
	start := time.Now()
	devLocal := s.createDevice("local", local.Host, local.Port, local.User, "require_approval")
	devA := s.createDevice("ns-a", nsA.IP, 22, sshA.User, "trust_first_use")
	devB := s.createDevice("ns-b", nsB.IP, 22, sshB.User, "trust_first_use")
	devHang := s.createDevice("hangs", hangHost, hangPort, "nobody", "trust_first_use")

	// Metrics rows within two intervals (the first poll is at once; rates need the second).
	s.waitSamples(devA.ID, 2, 2*pollInterval+5*time.Second)
	s.waitSamples(devB.ID, 2, 2*pollInterval+5*time.Second)
	s.waitStatus(devA.ID, "online", "", 5*time.Second)

	// An unapproved host key blocks the device and nothing is stored until an admin approves that very key.
	s.waitStatus(devLocal.ID, "blocked", "host key not approved", 15*time.Second)
	require.Zero(t, s.samples(devLocal.ID))
	require.Contains(t, s.eventKinds(devLocal.ID), "host_key.pending")
	s.approve(devLocal.ID, ssh.FingerprintSHA256(local.HostKey))
	s.waitSamples(devLocal.ID, 1, 2*pollInterval+5*time.Second)
	s.waitStatus(devLocal.ID, "online", "", 5*time.Second)

	// The device that hangs after accept fails its polls and goes offline.
	s.waitStatus(devHang.ID, "offline", "", 90*time.Second)

	// Cut A's link: it goes offline while B keeps its schedule.
	cut := time.Now()
	nsA.LinkDown()
	s.waitStatus(devA.ID, "offline", "polls failed", 60*time.Second)
	// The reason is the SSH layer's own classification, not a Temporal timeout wrapped around it.
	reason := s.device(devA.ID).StatusReason
	require.Regexp(t, `unreachable|timeout|closed`, reason)
	require.NotContains(t, reason, "StartToClose")
	require.Contains(t, s.eventKinds(devA.ID), "device.offline")
	require.LessOrEqual(t, s.maxGap(devB.ID, cut), pollInterval+4*time.Second, "B's polls stalled while A was down")

	// Link up: A comes back online, with no rate spike from the gap.
	up := time.Now()
	nsA.LinkUp()
	s.waitStatus(devA.ID, "online", "", 2*time.Minute)
	s.waitSamples(devA.ID, s.samples(devA.ID)+2, 3*pollInterval)
	var maxCPU, maxRx float64
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT coalesce(max(cpu_pct), 0) FROM system_metrics
		WHERE device_id = $1 AND time >= $2`, devA.ID, up).Scan(&maxCPU))
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT coalesce(max(rx_bps), 0) FROM network_metrics
		WHERE device_id = $1 AND time >= $2`, devA.ID, up).Scan(&maxRx))
	require.LessOrEqual(t, maxCPU, 100.0)
	require.Less(t, maxRx, 100e6, "a rate spike after the link came back")
	require.Contains(t, s.eventKinds(devA.ID), "device.online")

	// A changed host key is never accepted: the device is blocked and stores nothing until approved.
	sshA.RotateHostKey()
	s.SSH.Drop(devA.ID.String()) // the pooled connection to the old server would otherwise live on
	s.waitStatus(devA.ID, "blocked", "host key changed", 3*pollInterval)
	require.Contains(t, s.eventKinds(devA.ID), "host_key.changed")
	blockedAt := s.samples(devA.ID)
	require.Never(t, func() bool { return s.samples(devA.ID) > blockedAt }, 2*pollInterval, 500*time.Millisecond)
	s.approve(devA.ID, ssh.FingerprintSHA256(sshA.HostKey))
	s.waitSamples(devA.ID, blockedAt+1, 3*pollInterval)
	s.waitStatus(devA.ID, "online", "", 10*time.Second)

	// Through all of this B never missed its schedule, the hanging device notwithstanding.
	require.LessOrEqual(t, s.maxGap(devB.ID, start), pollInterval+4*time.Second)
}
