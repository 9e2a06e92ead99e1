package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// collectContainers takes the device's container inventory and stats for this poll: one `docker ps` for all
// containers, `docker inspect` only for those that changed (and new ones), and one cgroup read for the stats of
// every running container (docker stats --no-stream would sample for ~1.5 s per call). Docker being absent, its
// daemon down or its socket forbidden is reported as the device's docker availability, not as a failed poll;
// only a broken SSH connection fails it.
//
// prevCounters are the cgroup counters of the device's last poll (store.LoadPollCounters), for the rates.
func (a *Activities) collectContainers(ctx context.Context, dev *store.Device, target sshpool.Target, firstInventory bool,
	prevCounters *docker.CgroupSnapshot) (*store.ContainerWrite, error) {
	res, err := a.runDockerCommand(ctx, dev, target, docker.Inventory())
	if err != nil {
		if sshpool.KindOf(err) != sshpool.CommandFailed {
			return nil, err
		}
		probe, perr := a.runDockerCommand(ctx, dev, target, docker.Probe())
		if perr != nil && sshpool.KindOf(perr) != sshpool.CommandFailed {
			return nil, perr
		}
		avail := docker.ClassifyProbe(probe.Stdout, probe.Stderr, probe.ExitCode)
		if avail.State == docker.Available {
			// The daemon answers the probe but ps failed: report what ps said.
			avail = docker.Availability{State: docker.Unknown, Detail: quoteOutput([]byte(firstLine(res.Stderr)))}
		}
		return &store.ContainerWrite{Docker: avail}, nil
	}
	list, err := docker.ParsePS(res.Stdout)
	if err != nil {
		return &store.ContainerWrite{Docker: docker.Availability{State: docker.Unknown, Detail: err.Error()}}, nil
	}
	for _, c := range list {
		if len(c.Truncated) > 0 {
			// More ports, labels or text than docker ever prints (#15): what fits is stored.
			a.logWarn(ctx, "docker ps output cut to the parser's limits", "device", dev.Name, "container", c.ID, "fields", c.Truncated)
		}
	}
	stored, err := store.LoadContainers(ctx, a.DB, dev.ID)
	if err != nil {
		return nil, fmt.Errorf("load containers of %s: %w", dev.Name, err)
	}
	prev := make(map[string]*docker.Container, len(stored))
	for i := range stored {
		prev[stored[i].ID] = &stored[i]
	}
	var changed []string
	for _, c := range list {
		if docker.NeedsInspect(prev[c.ID], c) {
			changed = append(changed, c.ID)
		}
	}
	inspected, err := a.inspect(ctx, dev, target, changed)
	if err != nil {
		return nil, err
	}
	merged := make([]docker.Container, 0, len(list))
	for _, c := range list {
		full, ok := inspected[c.ID]
		if !ok {
			if p := prev[c.ID]; p != nil {
				full = *p // unchanged: keep the inspected details, refresh what ps shows
				full.Name, full.Image, full.Labels, full.Ports = c.Name, c.Image, c.Labels, c.Ports
				full.ComposeProject, full.ComposeService, full.ComposeWorkingDir = c.ComposeProject, c.ComposeService, c.ComposeWorkingDir
			} else {
				full = c // vanished between ps and inspect; ps is all there is
			}
		}
		full.Status = c.Status
		merged = append(merged, full)
	}
	w := &store.ContainerWrite{Docker: docker.Availability{State: docker.Available}, List: merged, Stored: stored}
	if !firstInventory {
		w.Changes = docker.Diff(stored, merged)
	}
	if err := a.containerStats(ctx, dev, target, merged, w, prevCounters); err != nil {
		return nil, err
	}
	return w, nil
}

// inspect runs docker inspect for ids in batches; containers removed meanwhile are simply absent.
func (a *Activities) inspect(ctx context.Context, dev *store.Device, target sshpool.Target, ids []string) (map[string]docker.Container, error) {
	out := make(map[string]docker.Container, len(ids))
	for start := 0; start < len(ids); start += docker.MaxInspect {
		batch := ids[start:min(start+docker.MaxInspect, len(ids))]
		cmd, err := docker.Inspect(batch...)
		if err != nil {
			return nil, err
		}
		res, err := a.runDockerCommand(ctx, dev, target, cmd)
		if err != nil && sshpool.KindOf(err) != sshpool.CommandFailed {
			return nil, err
		}
		// docker inspect exits 1 when one of the containers is gone but still prints the others.
		cs, perr := docker.ParseInspect(res.Stdout)
		if perr != nil {
			if err != nil {
				continue
			}
			return nil, fmt.Errorf("parse docker inspect: %w", perr)
		}
		for _, c := range cs {
			out[c.ID] = c
		}
	}
	return out, nil
}

// containerStats reads the cgroup counters of the running containers and turns them into rates against the
// previous poll's counters.
func (a *Activities) containerStats(ctx context.Context, dev *store.Device, target sshpool.Target, list []docker.Container,
	w *store.ContainerWrite, prev *docker.CgroupSnapshot) error {
	names := map[string]string{}
	for _, c := range list {
		if c.State == docker.StateRunning {
			names[c.ID] = c.Name
		}
	}
	if len(names) == 0 {
		return nil
	}
	res, err := a.runDockerCommand(ctx, dev, target, docker.CgroupStats())
	if err != nil {
		if sshpool.KindOf(err) == sshpool.CommandFailed {
			a.Log.Warn("container stats unavailable", "device", dev.Name, "err", err)
			return nil
		}
		return err
	}
	cur, err := docker.ParseCgroupStats(res.Stdout)
	if err != nil {
		a.Log.Warn("container stats unparseable", "device", dev.Name, "err", err)
		return nil
	}
	w.Counters = cur
	w.Samples = ContainerSamples(prev, cur, names)
	return nil
}

// ContainerSamples computes each running container's resource use from two cgroup snapshots (prev may be nil:
// then only the gauges are set). Rates use the device's uptime as the clock; a counter that went backwards (a
// restarted container) gives no rate rather than a negative one.
func ContainerSamples(prev, cur *docker.CgroupSnapshot, names map[string]string) []store.ContainerSample {
	var elapsed time.Duration
	before := map[string]*docker.CgroupContainerStats{}
	if prev != nil {
		elapsed = cur.Uptime - prev.Uptime
		for i := range prev.Containers {
			before[prev.Containers[i].ID] = &prev.Containers[i]
		}
	}
	rate := func(a, b uint64) *float64 {
		if elapsed <= 0 || b < a {
			return nil
		}
		v := float64(b-a) / elapsed.Seconds()
		return &v
	}
	var out []store.ContainerSample
	for _, c := range cur.Containers {
		name, ok := names[c.ID]
		if !ok {
			continue
		}
		s := store.ContainerSample{ContainerID: c.ID, Name: name, MemUsed: c.MemoryWorkingSet(), MemLimit: c.MemoryLimit, PIDs: c.PIDs}
		if p := before[c.ID]; p != nil && elapsed > 0 {
			if c.CPUNanos >= p.CPUNanos {
				v := docker.CPUPercent(p.CPUNanos, c.CPUNanos, elapsed)
				s.CPUPercent = &v
			}
			s.BlockReadBps, s.BlockWriteBps = rate(p.BlockReadBytes, c.BlockReadBytes), rate(p.BlockWriteBytes, c.BlockWriteBytes)
			if c.Networks != nil && p.Networks != nil {
				prx, ptx := netTotals(p.Networks)
				crx, ctx := netTotals(c.Networks)
				s.NetRxBps, s.NetTxBps = rate(prx, crx), rate(ptx, ctx)
			}
		}
		out = append(out, s)
	}
	return out
}

func netTotals(n map[string]docker.NetCounters) (rx, tx uint64) {
	for _, c := range n {
		rx += c.RxBytes
		tx += c.TxBytes
	}
	return rx, tx
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
