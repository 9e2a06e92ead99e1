package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// Operation kinds of drives and pools (#11).
const (
	OpKindZFSScrub      = "zfs_scrub"
	OpKindSMARTSelfTest = "smart_selftest"
)

// ErrTypeTargetNotFound means the operation's pool or drive is not on the device.
const ErrTypeTargetNotFound = "TargetNotFound"

// stopTimeout bounds the command that stops a job when its operation is cancelled.
const stopTimeout = 30 * time.Second

// cancelled reports whether ctx ended because the operation was cancelled, not because the worker is stopping (a
// worker that stops must leave the job running: the operation resumes on another worker and follows it).
func cancelled(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	if activity.IsActivity(ctx) {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
			return false
		default:
		}
	}
	return true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ZFSScrubKind scrubs a pool: start `zpool scrub`, follow `zpool status` until the scrub finishes, report what it
// repaired and the errors it found. Cancelling the operation stops the scrub (`zpool scrub -s`).
type ZFSScrubKind struct {
	// Poll is how often the scrub's progress is read (default 10 s).
	Poll time.Duration
}

// Kind implements OpKind.
func (ZFSScrubKind) Kind() string { return OpKindZFSScrub }

// Validate implements OpKind: the target is a pool name and the action "scrub".
func (ZFSScrubKind) Validate(in DeviceOpInput) error {
	if err := zfs.ValidPoolName(in.Target); err != nil {
		return &docker.ArgError{Arg: "name", Value: in.Target, Reason: "must be a pool name: a letter, then letters, digits, _ . : -"}
	}
	if in.Action != "scrub" {
		return &docker.ArgError{Arg: "action", Value: in.Action, Reason: "must be scrub"}
	}
	if len(in.Params) > 0 {
		return &docker.ArgError{Arg: "params", Value: "", Reason: "a scrub takes no options"}
	}
	return nil
}

// poolStatus reads one pool's status.
func poolStatus(ctx context.Context, env *OpEnv) (*zfs.Pool, error) {
	cmd, err := zfs.StatusCommand(env.In.Target)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out := string(outputOf(res.Stdout, res.Stderr))
	if res.ExitCode == exitNotFound {
		return nil, temporal.NewNonRetryableApplicationError("zpool is not installed on "+env.Device.Name, ErrTypeTargetNotFound, nil)
	}
	if res.ExitCode != 0 {
		if strings.Contains(out, "no such pool") {
			return nil, temporal.NewNonRetryableApplicationError("no pool "+env.In.Target+" on "+env.Device.Name, ErrTypeTargetNotFound, nil)
		}
		return nil, temporal.NewNonRetryableApplicationError("zpool status failed: "+safetext.Clip(strings.TrimSpace(out), 300), ErrTypeCommandFailed, nil)
	}
	pools, err := zfs.ParseStatus(res.Stdout, nil)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeCommandFailed, nil)
	}
	for i := range pools {
		if pools[i].Name == env.In.Target {
			return &pools[i], nil
		}
	}
	return nil, temporal.NewNonRetryableApplicationError("no pool "+env.In.Target+" on "+env.Device.Name, ErrTypeTargetNotFound, nil)
}

// scanMarker is appended to Before: the end of the last finished scan, so Act and Verify can tell a scrub that
// ran since precheck from the one before it.
const scanMarker = " [last-end="

func scanEnd(p *zfs.Pool) int64 {
	if p.Scan != nil && p.Scan.End != nil && p.Scan.State == zfs.ScanFinished {
		return p.Scan.End.Unix()
	}
	return 0
}

func beforeEnd(before string) int64 {
	i := strings.LastIndex(before, scanMarker)
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSuffix(before[i+len(scanMarker):], "]"), 10, 64)
	return n
}

func scanning(p *zfs.Pool) bool {
	return p.Scan != nil && p.Scan.Function == zfs.ScanScrub && (p.Scan.State == zfs.ScanInProgress || p.Scan.State == zfs.ScanPaused)
}

// Precheck implements OpKind: the pool must exist and be importable; a scrub already running is followed.
func (ZFSScrubKind) Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error) {
	p, err := poolStatus(ctx, env)
	if err != nil {
		return nil, err
	}
	switch p.State {
	case "FAULTED", "UNAVAIL", "SUSPENDED", "REMOVED":
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("pool %s is %s: it cannot be scrubbed", p.Name, p.State),
			ErrTypeInvalidState, nil)
	}
	last := "no scan on record"
	if p.Scan != nil {
		last = safetext.Clip(p.Scan.Text, 200)
	}
	return &OpPrecheck{Before: fmt.Sprintf("%s; %s%s%d]", p.State, last, scanMarker, scanEnd(p))}, nil
}

// Act implements OpKind. A retried Act finds the scrub it started running (or finished since precheck) and does
// not start another.
func (ZFSScrubKind) Act(ctx context.Context, env *OpEnv) (*OpAct, error) {
	p, err := poolStatus(ctx, env)
	if err != nil {
		return nil, err
	}
	if scanning(p) {
		return &OpAct{AlreadyDone: true, Output: "a scrub is already running: following it"}, nil
	}
	if end := scanEnd(p); end != 0 && end != beforeEnd(env.Before) && p.Scan.Function == zfs.ScanScrub {
		return &OpAct{AlreadyDone: true, Output: "a scrub finished since the precheck"}, nil
	}
	cmd, err := zfs.ScrubCommand(env.In.Target, env.Device.UseSudo)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out := strings.TrimSpace(string(outputOf(res.Stderr, res.Stdout)))
	if res.ExitCode != 0 {
		if strings.Contains(out, "currently scrubbing") {
			return &OpAct{AlreadyDone: true, Output: "a scrub is already running: following it"}, nil
		}
		typ := ErrTypeCommandFailed
		if strings.Contains(out, "permission denied") || strings.Contains(out, "sudo:") {
			typ = ErrTypePermissionDenied
		}
		return nil, temporal.NewNonRetryableApplicationError("zpool scrub failed: "+safetext.Clip(out, 300), typ, nil)
	}
	return &OpAct{Output: "scrub started"}, nil
}

// Verify implements OpKind: it follows the scrub until it finishes, reporting progress. When the operation is
// cancelled it stops the scrub.
func (k ZFSScrubKind) Verify(ctx context.Context, env *OpEnv) (*OpVerify, error) {
	poll := k.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	for {
		p, err := poolStatus(ctx, env)
		if err != nil {
			if cancelled(ctx) {
				return nil, k.stop(ctx, env)
			}
			return nil, err
		}
		s := p.Scan
		switch {
		case scanning(p):
			env.Progress(ctx, scrubProgress(s))
		case s != nil && s.Function == zfs.ScanScrub && s.State == zfs.ScanFinished && scanEnd(p) != beforeEnd(env.Before):
			errs, repaired := uint64(0), uint64(0)
			if s.Errors != nil {
				errs = *s.Errors
			}
			if s.RepairedBytes != nil {
				repaired = *s.RepairedBytes
			}
			sum := fmt.Sprintf("scrub of %s finished: %d errors, %d bytes repaired", p.Name, errs, repaired)
			if errs > 0 {
				sum += "; check zpool status -v and the disks"
			}
			return &OpVerify{Summary: sum, After: fmt.Sprintf("%s; %s", p.State, safetext.Clip(s.Text, 200))}, nil
		case s != nil && s.Function == zfs.ScanScrub && s.State == zfs.ScanCanceled:
			return nil, temporal.NewNonRetryableApplicationError("the scrub of "+p.Name+" was canceled on the device",
				ErrTypeVerifyFailed, nil)
		default:
			return nil, temporal.NewNonRetryableApplicationError("no scrub is running on "+p.Name+" and none finished: "+
				scanText(s), ErrTypeVerifyFailed, nil)
		}
		if err := sleepCtx(ctx, poll); err != nil {
			if cancelled(ctx) {
				return nil, k.stop(ctx, env)
			}
			return nil, err
		}
	}
}

// stop stops the scrub when the operation is cancelled and returns the cancellation.
func (ZFSScrubKind) stop(ctx context.Context, env *OpEnv) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if cmd, err := zfs.ScrubStopCommand(env.In.Target, env.Device.UseSudo); err == nil {
		_, _ = env.Run(sctx, cmd)
	}
	return ctx.Err()
}

func scrubProgress(s *zfs.Scan) string {
	if s.State == zfs.ScanPaused {
		return "scrub paused"
	}
	t := "scrub in progress"
	if s.ProgressPercent != nil {
		t = fmt.Sprintf("scrub %.1f%% done", *s.ProgressPercent)
	}
	if s.IssuedBytes != nil && s.TotalBytes != nil {
		t += fmt.Sprintf(", %s of %s issued", humanBytes(*s.IssuedBytes), humanBytes(*s.TotalBytes))
	}
	return t
}

func scanText(s *zfs.Scan) string {
	if s == nil {
		return "no scan on record"
	}
	return safetext.Clip(s.Text, 200)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// SMARTSelfTestKind runs a drive self-test: start `smartctl -t short|long`, follow the drive's self-test status
// until it completes, report the outcome. Cancelling the operation aborts the test (`smartctl -X`). The drive is
// named by serial; Params path and type (smartctl -d) say where it is, and the precheck makes sure the drive at
// that path still has that serial.
type SMARTSelfTestKind struct {
	// Poll is how often the test's progress is read (default 30 s).
	Poll time.Duration
}

// Kind implements OpKind.
func (SMARTSelfTestKind) Kind() string { return OpKindSMARTSelfTest }

// Validate implements OpKind.
func (SMARTSelfTestKind) Validate(in DeviceOpInput) error {
	if in.Target == "" || len(in.Target) > 256 || strings.HasPrefix(in.Target, "path:") {
		return &docker.ArgError{Arg: "serial", Value: in.Target, Reason: "must be the serial of a drive whose SMART data was read"}
	}
	if in.Action != smart.SelfTestShort && in.Action != smart.SelfTestLong {
		return &docker.ArgError{Arg: "type", Value: in.Action, Reason: "must be short or long"}
	}
	for k := range in.Params {
		if k != "path" && k != "type" {
			return &docker.ArgError{Arg: "params", Value: k, Reason: "only path and type"}
		}
	}
	if err := smart.ValidDevicePath(in.Params["path"]); err != nil {
		return &docker.ArgError{Arg: "path", Value: in.Params["path"], Reason: err.Error()}
	}
	if err := smart.ValidDeviceType(in.Params["type"]); err != nil {
		return &docker.ArgError{Arg: "device_type", Value: in.Params["type"], Reason: err.Error()}
	}
	return nil
}

// selfTestStatus is the part of `smartctl -j -a` that tells whether a self-test runs (ATA: the self-test
// execution status byte; NVMe: the current self-test operation).
type selfTestStatus struct {
	Serial  string `json:"serial_number"`
	ATAData *struct {
		SelfTest *struct {
			Status *struct {
				Value            int    `json:"value"`
				String           string `json:"string"`
				RemainingPercent *int   `json:"remaining_percent"`
				Passed           *bool  `json:"passed"`
			} `json:"status"`
		} `json:"self_test"`
	} `json:"ata_smart_data"`
	NVMeLog *struct {
		Current *struct {
			Value int `json:"value"`
		} `json:"current_self_test_operation"`
		Completion *int `json:"current_self_test_completion_percent"`
		Table      []struct {
			Result *struct {
				Value  int    `json:"value"`
				String string `json:"string"`
			} `json:"self_test_result"`
		} `json:"table"`
	} `json:"nvme_self_test_log"`
}

// running says whether a test runs, how far it is and, when none runs, the last result and whether it passed.
func (s *selfTestStatus) running() (run bool, progress string, result string, passed bool, known bool) {
	if a := s.ATAData; a != nil && a.SelfTest != nil && a.SelfTest.Status != nil {
		st := a.SelfTest.Status
		if st.Value>>4 == 0xF {
			p := "self-test in progress"
			if st.RemainingPercent != nil {
				p = fmt.Sprintf("self-test %d%% remaining", *st.RemainingPercent)
			}
			return true, p, "", false, true
		}
		return false, "", st.String, st.Value == 0 || (st.Passed != nil && *st.Passed), true
	}
	if n := s.NVMeLog; n != nil {
		if n.Current != nil && n.Current.Value != 0 {
			p := "self-test in progress"
			if n.Completion != nil {
				p = fmt.Sprintf("self-test %d%% done", *n.Completion)
			}
			return true, p, "", false, true
		}
		if len(n.Table) > 0 && n.Table[0].Result != nil {
			return false, "", n.Table[0].Result.String, n.Table[0].Result.Value == 0, true
		}
	}
	return false, "", "", false, false
}

func readSelfTest(ctx context.Context, env *OpEnv) (*selfTestStatus, error) {
	cmd, err := smart.ReadCommand(env.In.Params["path"], env.In.Params["type"], env.Device.UseSudo)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var st selfTestStatus
	if err := json.Unmarshal(outputOf(res.Stdout, res.Stderr), &st); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("smartctl output is not JSON: "+
			safetext.Clip(string(res.Stderr), 200), ErrTypeCommandFailed, nil)
	}
	if strings.TrimSpace(st.Serial) != env.In.Target {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the drive at %s is not %s (it reads %q): collect again",
			env.In.Params["path"], env.In.Target, st.Serial), ErrTypeTargetNotFound, nil)
	}
	return &st, nil
}

// Precheck implements OpKind.
func (SMARTSelfTestKind) Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error) {
	st, err := readSelfTest(ctx, env)
	if err != nil {
		return nil, err
	}
	run, progress, result, _, _ := st.running()
	if run {
		return &OpPrecheck{Before: progress}, nil
	}
	if result == "" {
		result = "no self-test on record"
	}
	return &OpPrecheck{Before: "last self-test: " + result}, nil
}

// Act implements OpKind; a test already running (started by a previous attempt) is followed, not restarted.
func (SMARTSelfTestKind) Act(ctx context.Context, env *OpEnv) (*OpAct, error) {
	st, err := readSelfTest(ctx, env)
	if err != nil {
		return nil, err
	}
	if run, _, _, _, _ := st.running(); run {
		return &OpAct{AlreadyDone: true, Output: "a self-test is already running: following it"}, nil
	}
	cmd, err := smart.SelfTestCommand(env.In.Params["path"], env.In.Params["type"], env.In.Action, env.Device.UseSudo)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out := strings.TrimSpace(string(outputOf(res.Stdout, res.Stderr)))
	if strings.Contains(out, "without aborting current test") {
		return &OpAct{AlreadyDone: true, Output: "a self-test is already running: following it"}, nil
	}
	if e := smart.DecodeExit(res.ExitCode); e.CommandLine || e.DeviceOpen || e.CommandFailed {
		return nil, temporal.NewNonRetryableApplicationError("smartctl -t failed: "+safetext.Clip(out, 300), ErrTypeCommandFailed, nil)
	}
	return &OpAct{Output: env.In.Action + " self-test started"}, nil
}

// Verify implements OpKind: it follows the test until the drive reports its result.
func (k SMARTSelfTestKind) Verify(ctx context.Context, env *OpEnv) (*OpVerify, error) {
	poll := k.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for {
		st, err := readSelfTest(ctx, env)
		if err != nil {
			if cancelled(ctx) {
				return nil, k.abort(ctx, env)
			}
			return nil, err
		}
		run, progress, result, passed, known := st.running()
		switch {
		case run:
			env.Progress(ctx, progress)
		case !known:
			return &OpVerify{Summary: env.In.Action + " self-test started; the drive does not report its progress: read the self-test log later"}, nil
		case passed:
			return &OpVerify{Summary: env.In.Action + " self-test of " + env.In.Target + " passed: " + result, After: result}, nil
		default:
			return nil, temporal.NewNonRetryableApplicationError(env.In.Action+" self-test of "+env.In.Target+" failed: "+result,
				ErrTypeVerifyFailed, nil)
		}
		if err := sleepCtx(ctx, poll); err != nil {
			if cancelled(ctx) {
				return nil, k.abort(ctx, env)
			}
			return nil, err
		}
	}
}

func (SMARTSelfTestKind) abort(ctx context.Context, env *OpEnv) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if cmd, err := smart.AbortSelfTestCommand(env.In.Params["path"], env.In.Params["type"], env.Device.UseSudo); err == nil {
		_, _ = env.Run(sctx, cmd)
	}
	return ctx.Err()
}
