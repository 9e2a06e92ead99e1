package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// pollDeadline is the longest a failing poll may take in these stacks: a dial (3 s) or a command (4 s) timeout,
// plus the redial of a dead pooled connection, with slack for two busy cores.
const pollDeadline = 3*time.Second + 4*time.Second + 3*time.Second

// offlineWithin bounds the wait for a failing device to be marked offline: OfflineAfter failed polls, each
// within its deadline, an interval apart, with room for a heavily loaded machine. That each poll ended at its
// own SSH deadline is shown by the reason, which would otherwise name Temporal's activity timeout.
const offlineWithin = 2 * workflows.OfflineAfter * (pollInterval + pollDeadline)

// maxHealthyGap bounds the time between two samples of a healthy device while another one fails: the interval
// plus the poll deadline. A healthy poll that waited behind the failing device's would take the interval, that
// whole deadline and its own run; lateness from a busy machine alone stays well below.
const maxHealthyGap = pollInterval + pollDeadline

// settle bounds the waits for a stack's first samples, which on a loaded machine can take a while.
const settle = time.Minute

// TestFaultLinkBlackHoled drops every packet of a device's link (no refusal, no reset) while other devices poll.
// Kept: the other devices' schedules, the black-holed device's history, sane rates across the gap once it is
// back. Lost: its polls during the outage, each failing within the poll deadline; it is marked offline, then
// online again.
func TestFaultLinkBlackHoled(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNetns(t)
	remote := testenv.StartSSHD(t, testenv.SSHDOptions{Netns: ns.Name, Addr: ns.IP + ":22"})
	local := testenv.StartSSHD(t, testenv.SSHDOptions{})
	s := startStack(t, stackOptions{Signers: []ssh.Signer{remote.ClientSigner, local.ClientSigner}})

	dev := s.createDevice("behind-the-hole", ns.IP, 22, remote.User)
	var others []uuid.UUID
	for i := range 3 {
		others = append(others, s.createDevice(fmt.Sprintf("loopback-%d", i), local.Host, local.Port, local.User).ID)
	}
	s.waitSamples(dev.ID, 2, settle)
	for _, id := range others {
		s.waitSamples(id, 2, settle)
	}
	s.waitStatus(dev.ID, "online", settle)

	cut := time.Now()
	ns.BlackHole()
	// Three failed polls, each bounded by the poll deadline, separated by the interval, mark it offline.
	d := s.waitStatus(dev.ID, "offline", offlineWithin)
	t.Logf("offline %s after the cut: %s", time.Since(cut).Round(time.Millisecond), d.StatusReason)
	require.Regexp(t, `timeout|timed out|deadline`, d.StatusReason, "a black hole is a timeout, not a refusal")
	require.NotContains(t, d.StatusReason, "StartToClose", "the SSH deadline fired, not Temporal's activity timeout")
	require.Contains(t, s.eventKinds(dev.ID), "device.offline")

	// The loop's own account: every failed poll ended within the deadline, so none ran into the next one.
	desc, err := s.TC.QueryWorkflow(context.Background(), workflows.DevicePollWorkflowID(dev.ID.String()), "", workflows.QueryStatus)
	require.NoError(t, err)
	var st workflows.DevicePollState
	require.NoError(t, desc.Get(&st))
	require.GreaterOrEqual(t, st.ConsecutiveFailures, workflows.OfflineAfter)
	require.True(t, st.Offline)

	up := time.Now()
	ns.Restore()
	s.waitStatus(dev.ID, "online", 2*time.Minute)
	t.Logf("online %s after the link came back", time.Since(up).Round(time.Millisecond))
	s.waitSamples(dev.ID, s.samples(dev.ID)+2, settle)
	require.Contains(t, s.eventKinds(dev.ID), "device.online")

	// Rates across the gap are averages over it, not a spike.
	var maxCPU, maxRx, maxTx float64
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT coalesce(max(cpu_pct), 0) FROM system_metrics
		WHERE device_id = $1 AND time >= $2`, dev.ID, up).Scan(&maxCPU))
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT coalesce(max(rx_bps), 0), coalesce(max(tx_bps), 0)
		FROM network_metrics WHERE device_id = $1 AND time >= $2`, dev.ID, up).Scan(&maxRx, &maxTx))
	require.LessOrEqual(t, maxCPU, 100.0)
	require.Less(t, maxRx, 100e6, "a receive rate spike after the link came back")
	require.Less(t, maxTx, 100e6, "a transmit rate spike after the link came back")

	// No sample was taken during the outage (a sample's time is its poll's start: a poll that started before the
	// cut and ended after it would be stamped before it), and the others never missed their schedule.
	var during []time.Time
	// (A second of slack: the cut is taken just before the black hole is set up.)
	for _, at := range s.sampleTimes(dev.ID, cut.Add(time.Second)) {
		if at.Before(up) {
			during = append(during, at)
		}
	}
	require.Empty(t, during, "samples during the black hole")
	for _, id := range others {
		_, maxGap := gaps(s.sampleTimes(id, cut))
		require.LessOrEqual(t, maxGap, maxHealthyGap, "a device on loopback stalled while the link was black-holed")
	}
}
