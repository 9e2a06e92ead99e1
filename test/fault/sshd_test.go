package fault

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// hangingListener accepts TCP connections and never says a word, like an sshd stuck after accept.
func hangingListener(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// TestFaultSSHDHangsAfterAccept points a device at a server that accepts connections and never speaks.
// Kept: the other devices' schedules. Lost: the hanging device's polls, each ending at the handshake deadline;
// it is marked offline with a timeout as the reason.
func TestFaultSSHDHangsAfterAccept(t *testing.T) {
	t.Parallel()
	local := testenv.StartSSHD(t, testenv.SSHDOptions{})
	host, port := hangingListener(t)
	s := startStack(t, stackOptions{Signers: []ssh.Signer{local.ClientSigner}})

	start := time.Now()
	hang := s.createDevice("hangs-after-accept", host, port, "nobody")
	ok := s.createDevice("fine", local.Host, local.Port, local.User)

	d := s.waitStatus(hang.ID, "offline", offlineWithin)
	t.Logf("offline %s after creation: %s", time.Since(start).Round(time.Millisecond), d.StatusReason)
	require.Regexp(t, `timeout|timed out|deadline`, d.StatusReason)
	require.NotContains(t, d.StatusReason, "StartToClose", "the SSH deadline fired, not Temporal's activity timeout")
	require.Zero(t, s.samples(hang.ID))

	s.waitSamples(ok.ID, 4, settle)
	_, maxGap := gaps(s.sampleTimes(ok.ID, start))
	require.LessOrEqual(t, maxGap, maxHealthyGap, "the healthy device stalled behind the hanging one")
	s.waitStatus(ok.ID, "online", settle)
}

// floodBytes is what the flooding device sends for every command.
const floodBytes = 100 << 20

// TestFaultSSHDFloodsOutput points a device at an sshd that answers every command with 100 MB of output. Kept:
// the worker's memory (the output is capped, not buffered whole), the other devices' schedules. Lost: the
// flooding device's polls, each failing within its deadline; it is marked offline.
//
// The heap measured is this process's: the test does not run in parallel, so no other test's allocations (the
// malformed-input rows allocate tens of MiB at times) count against the worker's.
func TestFaultSSHDFloodsOutput(t *testing.T) {
	flood := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{
		"ForceCommand exec head -c 104857600 /dev/urandom",
	}})
	local := testenv.StartSSHD(t, testenv.SSHDOptions{})
	// A command deadline long enough for the 100 MB to arrive on an idle machine, so the cap, not the deadline,
	// usually ends the poll (still within the poll activity's own 10 s).
	s := startStack(t, stackOptions{Signers: []ssh.Signer{flood.ClientSigner, local.ClientSigner}, CommandTimeout: 8 * time.Second})

	// Sample the live heap (after a collection, so garbage waiting for the collector does not count) while the
	// flood runs; a worker that buffered the output whole would hold 100 MB at once.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
		}
	}()

	start := time.Now()
	dev := s.createDevice("floods", flood.Host, flood.Port, flood.User)
	ok := s.createDevice("fine", local.Host, local.Port, local.User)
	d := s.waitStatus(dev.ID, "offline", offlineWithin)
	close(stop)
	<-sampled
	t.Logf("offline %s after creation: %s; live heap %d MiB before, peak %d MiB", time.Since(start).Round(time.Millisecond),
		d.StatusReason, base.HeapAlloc>>20, peak>>20)
	// The reason says what happened: the output outgrew the cap, or took longer than the poll's deadline.
	require.Regexp(t, `exceeded|timeout`, d.StatusReason)
	require.Zero(t, s.samples(dev.ID))
	require.Less(t, int64(peak)-int64(base.HeapAlloc), int64(floodBytes/2), "the worker's heap grew with the device's output")

	s.waitSamples(ok.ID, 3, settle)
	_, maxGap := gaps(s.sampleTimes(ok.ID, start))
	require.LessOrEqual(t, maxGap, maxHealthyGap, "the healthy device stalled behind the flooding one")
}
