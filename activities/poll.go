package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/telemetry"
)

// jumpSuffix marks the host-key identity of a device's jump host, kept apart from the device's own key.
const jumpSuffix = "#jump"

// PollDevice runs the collector script on the device in one SSH session, computes rates against the previous
// poll's counters and commits samples, counters, status and capabilities in one transaction.
func (a *Activities) PollDevice(ctx context.Context, in PollDeviceInput) (res *PollDeviceResult, err error) {
	start := time.Now()
	defer func() {
		telemetry.PollDuration.Observe(time.Since(start).Seconds())
		outcome := "ok"
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			outcome = app.Type()
		} else if err != nil {
			outcome = "error"
		}
		telemetry.Polls.WithLabelValues(outcome).Inc()
	}()
	return a.pollDevice(ctx, in)
}

func (a *Activities) pollDevice(ctx context.Context, in PollDeviceInput) (*PollDeviceResult, error) {
	id, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !dev.Enabled {
		return nil, temporal.NewNonRetryableApplicationError("device deleted or disabled", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load device %s: %w", id, err)
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}

	start := a.now()
	// The pool hands the script to sh on stdin: the login shell may be fish, csh or a restricted shell.
	res, err := a.SSH.Run(ctx, target, collector.Script, nil)
	if sshpool.KindOf(err) == sshpool.Closed && ctx.Err() == nil {
		// The pooled connection died since the last poll (the pool has dropped it): redial once.
		res, err = a.SSH.Run(ctx, target, collector.Script, nil)
	}
	if err != nil {
		if refused := wrapperRefusal(dev, "poll", res); refused != nil {
			return nil, refused
		}
		return nil, a.sshFailure(ctx, dev, err)
	}
	if res.Truncated {
		// The pool kept only the head of an output that outgrew its cap (a runaway or hostile device): parsing
		// that head would blame a missing section and hide the cause.
		return nil, fmt.Errorf("poll %s: collector output exceeded the worker's cap of %d bytes", dev.Name, max(len(res.Stdout), len(res.Stderr)))
	}
	snap, err := collector.Parse(res.Stdout)
	if err != nil {
		// Parse names itself ("parse collector output: ...").
		return nil, fmt.Errorf("poll %s: %w", dev.Name, err)
	}
	if len(snap.Truncated) > 0 {
		// More interfaces, disks or text than any real machine has (#15): what fits is stored.
		a.logWarn(ctx, "collector output cut to the parsers' limits", "device", dev.Name, "sections", snap.Truncated)
	}
	prev, prevContainers, err := store.LoadPollCounters(ctx, a.DB, id)
	if err != nil {
		return nil, fmt.Errorf("poll %s: load counters: %w", dev.Name, err)
	}
	m := collector.Compute(prev, snap)
	took := a.now().Sub(start)
	w := &store.PollWrite{DeviceID: id, PollKey: in.PollKey, Time: start, Metrics: m, Counters: snap.Counters(),
		Summary: Summarize(&m, took)}
	if snap.Capabilities != nil && capabilitiesChanged(dev.Capabilities, snap.Capabilities) {
		w.Capabilities = snap.Capabilities
	}
	switch {
	case snap.Capabilities != nil && snap.Capabilities.HasDocker:
		if w.Containers, err = a.collectContainers(ctx, dev, target, dev.Docker == nil, prevContainers); err != nil {
			return nil, a.sshFailure(ctx, dev, err)
		}
		w.Summary += containerSummary(w.Containers)
	case dev.Docker != nil:
		// Docker was uninstalled: say so, and keep the last inventory for the record.
		w.Containers = &store.ContainerWrite{Docker: docker.Availability{State: docker.Absent}}
	}
	var alerts *EvaluateAlertsResult
	if in.EvaluateAlerts {
		alerts = &EvaluateAlertsResult{}
		a.evaluateWithinPoll(w, alerts)
	}
	out, err := store.WritePoll(ctx, a.DB, w)
	if ew := (*errWithinPoll)(nil); errors.As(err, &ew) {
		// The evaluation failed and took the transaction with it: commit the samples alone and leave the
		// evaluation to the workflow's separate EvaluateAlerts, which reads them back.
		a.logWarn(ctx, "alert evaluation within the poll failed", "device", dev.Name, "err", ew.err)
		w.Within, alerts = nil, nil
		out, err = store.WritePoll(ctx, a.DB, w)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device deleted", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("poll %s: write samples: %w", dev.Name, err)
	}
	telemetry.SamplesWritten.Add(float64(out.Rows))
	result := &PollDeviceResult{Summary: w.Summary, Collected: start, Duplicate: out.Duplicate,
		InventoryInterval: dev.InventoryInterval}
	if alerts != nil {
		// A duplicate's evaluation committed with its samples in the earlier attempt: nothing is left to do.
		result.AlertsEvaluated, result.Notices = true, alerts.Notices
	}
	return result, nil
}

// sshFailure turns an SSH error into the activity's error: host-key and authentication problems are
// non-retryable (the device is blocked until an administrator acts), everything else is retryable.
func (a *Activities) sshFailure(ctx context.Context, dev *store.Device, err error) error {
	kind := sshpool.KindOf(err)
	var hk *sshpool.HostKeyError
	if errors.As(err, &hk) {
		kind = hk.Kind
	}
	switch kind {
	case sshpool.HostKeyUnknown:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeHostKeyUnknown, nil)
	case sshpool.HostKeyChanged:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeHostKeyChanged, nil)
	case sshpool.AuthFailed:
		if _, serr := store.SetDeviceStatus(ctx, a.DB, dev.ID, store.StatusBlocked, "authentication failed", nil); serr != nil {
			return fmt.Errorf("poll %s: %w (and recording it failed: %v)", dev.Name, err, serr)
		}
		if dev.Status != store.StatusBlocked {
			id := dev.ID
			_ = store.InsertEvent(ctx, a.DB, &store.Event{DeviceID: &id, Kind: store.EventAuthFailed, Severity: "critical",
				Message: "the device rejected every key for user " + dev.User + "; fix its authorized_keys, then resume polling"})
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeAuthFailed, nil)
	case sshpool.Invalid:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	// Unreachable, refused, timeout, closed: the workflow counts the failure and retries on its schedule.
	return temporal.NewApplicationError(err.Error(), "SSH "+kind.String())
}

// MarkOffline records that a device stopped answering. A blocked device stays blocked.
func (a *Activities) MarkOffline(ctx context.Context, in MarkOfflineInput) error {
	id, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	dev, err := store.GetDevice(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("device deleted", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return err
	}
	if dev.Status == store.StatusBlocked || dev.Status == store.StatusOffline {
		return nil
	}
	reason := fmt.Sprintf("%d polls failed: %s", in.Failures, in.Reason)
	data, _ := json.Marshal(map[string]any{"failures": in.Failures, "reason": in.Reason})
	// The status and its event in one transaction: a retry after a crash between the two would find the device
	// offline already and never record the event, and a reader could see the status before the event.
	return pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
		if _, err := store.SetDeviceStatus(ctx, tx, id, store.StatusOffline, reason, nil); err != nil {
			return err
		}
		return store.InsertEvent(ctx, tx, &store.Event{DeviceID: &id, Kind: store.EventDeviceOffline, Severity: "warning",
			Message: "device is offline: " + reason, Data: data})
	})
}

// TargetOf builds the SSH target of a device, with its jump host if any.
func TargetOf(d *store.Device) (sshpool.Target, error) {
	t := sshpool.Target{DeviceID: d.ID.String(), Host: d.Host, Port: d.Port, User: d.User}
	if d.JumpHost != nil && *d.JumpHost != "" {
		user, hostport, ok := strings.Cut(*d.JumpHost, "@")
		if !ok {
			user, hostport = d.User, user
		}
		host, port := hostport, 22
		if h, p, err := net.SplitHostPort(hostport); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return t, fmt.Errorf("jump host %q: bad port", *d.JumpHost)
			}
			host, port = h, n
		}
		t.Jump = &sshpool.Target{DeviceID: d.ID.String() + jumpSuffix, Host: host, Port: port, User: user}
	}
	return t, nil
}

func capabilitiesChanged(stored json.RawMessage, cur *collector.Capabilities) bool {
	if len(stored) == 0 {
		return true
	}
	var old collector.Capabilities
	if err := json.Unmarshal(stored, &old); err != nil {
		return true
	}
	return !reflect.DeepEqual(&old, cur)
}

// Summarize is the one line a poll shows in the Temporal UI: key figures, never raw output.
func Summarize(m *collector.Metrics, took time.Duration) string {
	var parts []string
	if m.CPU != nil {
		parts = append(parts, fmt.Sprintf("cpu %.1f%%", m.CPU.UsagePercent))
	} else {
		parts = append(parts, "cpu n/a (first poll)")
	}
	if m.Memory != nil {
		parts = append(parts, fmt.Sprintf("mem %.1f%%", m.Memory.UsedPercent))
	}
	if m.Load != nil {
		parts = append(parts, fmt.Sprintf("load %.2f", m.Load.Load1))
	}
	var fullest *collector.FilesystemMetrics
	for i := range m.Filesystems {
		if fullest == nil || m.Filesystems[i].UsedPercent > fullest.UsedPercent {
			fullest = &m.Filesystems[i]
		}
	}
	if fullest != nil {
		parts = append(parts, fmt.Sprintf("fs max %.0f%% (%s)", fullest.UsedPercent, fullest.Mount))
	}
	parts = append(parts, fmt.Sprintf("%d ifaces, %d disks, %d sensors", len(m.Interfaces), len(m.Disks), len(m.Temperatures)))
	if m.Reset {
		parts = append(parts, "counters reset")
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" in %dms", took.Milliseconds())
}

// HostKeys checks SSH host keys against the pins in the database; it is the SSH pool's HostKeyChecker.
type HostKeys struct {
	DB store.TxStarter
}

// CheckHostKey implements sshpool.HostKeyChecker.
func (h *HostKeys) CheckHostKey(ctx context.Context, deviceID string, key ssh.PublicKey) error {
	role := store.RoleDevice
	if strings.HasSuffix(deviceID, jumpSuffix) {
		role = store.RoleJump
	}
	id, err := uuid.Parse(strings.TrimSuffix(deviceID, jumpSuffix))
	if err != nil {
		return fmt.Errorf("host key check: bad device id %q", deviceID)
	}
	verdict, err := store.CheckHostKey(ctx, h.DB, store.OfferedKey{
		DeviceID: id, Role: role, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(),
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
	})
	if err != nil {
		return fmt.Errorf("host key check for %s: %w", deviceID, err)
	}
	switch verdict {
	case store.KeyUnknown:
		return sshpool.NewHostKeyError(sshpool.HostKeyUnknown, deviceID, key)
	case store.KeyChanged:
		return sshpool.NewHostKeyError(sshpool.HostKeyChanged, deviceID, key)
	}
	return nil
}

func containerSummary(w *store.ContainerWrite) string {
	if w.Docker.State != docker.Available {
		return "; docker " + string(w.Docker.State)
	}
	running := 0
	for _, c := range w.List {
		if c.State == docker.StateRunning {
			running++
		}
	}
	return fmt.Sprintf("; containers %d/%d running", running, len(w.List))
}
