package store

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// runWithin runs the write's Within hook, if any, in the poll's transaction.
func (w *PollWrite) runWithin(ctx context.Context, tx pgx.Tx) error {
	if w.Within == nil {
		return nil
	}
	return w.Within(ctx, tx)
}

// Samples returns what LoadPollSamples would read back after this write committed, without reading: the metrics
// at the precision the tables store them (float32 columns, percentages recomputed from the stored bytes) and, when
// need asks for containers, the inventory. Evaluating alerts from the poll's own figures (#17) must decide exactly
// as evaluating them from the read-back did. The inventory comes from the write when the poll listed containers;
// otherwise the stored one is unchanged and is read through db (the poll's transaction).
func (w *PollWrite) Samples(ctx context.Context, db DBTX, need alert.Needs) (*collector.Metrics, []docker.Container, error) {
	m := &collector.Metrics{Time: w.Time}
	if need.System || need.Filesystems || need.Temperatures {
		storedPrecision(&w.Metrics, m, need)
	}
	if !need.Containers {
		return m, nil, nil
	}
	if w.Containers != nil && w.Containers.List != nil {
		list := append([]docker.Container(nil), w.Containers.List...)
		sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		return m, list, nil
	}
	list, err := LoadContainers(ctx, db, w.DeviceID)
	if err != nil {
		return nil, nil, err
	}
	return m, list, nil
}

// storedPrecision fills out from in as copySamples stores it and scanSystemSample, scanFilesystemSamples and
// scanTemperatureSamples read it back.
func storedPrecision(in, out *collector.Metrics, need alert.Needs) {
	f32 := func(v float64) float64 { return float64(float32(v)) }
	if c := in.CPU; c != nil {
		out.CPU = &collector.CPUMetrics{UsagePercent: f32(c.UsagePercent)}
		for i, core := range c.Cores {
			out.CPU.Cores = append(out.CPU.Cores, collector.CoreMetrics{Core: i, UsagePercent: f32(core.UsagePercent)})
		}
	}
	if mem := in.Memory; mem != nil && int64(mem.TotalBytes) > 0 {
		total, used := int64(mem.TotalBytes), int64(mem.UsedBytes)
		out.Memory = &collector.MemoryMetrics{TotalBytes: uint64(total), UsedBytes: uint64(used),
			UsedPercent: 100 * float64(used) / float64(total)}
		if st, su := int64(mem.SwapTotalBytes), int64(mem.SwapUsedBytes); st > 0 {
			out.Memory.SwapTotalBytes, out.Memory.SwapUsedBytes = uint64(st), uint64(su)
			out.Memory.SwapUsedPercent = 100 * float64(su) / float64(st)
		}
	}
	if l := in.Load; l != nil {
		out.Load = &collector.LoadAvg{Load1: f32(l.Load1), Load5: f32(l.Load5), Load15: f32(l.Load15)}
	}
	if need.Filesystems {
		for _, f := range in.Filesystems {
			size, used, avail := int64(f.SizeBytes), int64(f.UsedBytes), int64(f.AvailBytes)
			fs := collector.FilesystemMetrics{Mount: f.Mount, Source: f.Source, FSType: f.FSType,
				SizeBytes: uint64(size), UsedBytes: uint64(used), AvailBytes: uint64(avail)}
			if used+avail > 0 {
				fs.UsedPercent = 100 * float64(used) / float64(used+avail)
			}
			if itotal, iused := int64(f.InodesTotal), int64(f.InodesUsed); itotal > 0 {
				p := 100 * float64(iused) / float64(itotal)
				fs.InodesTotal, fs.InodesUsed, fs.InodesUsedPercent = uint64(itotal), uint64(iused), &p
			}
			out.Filesystems = append(out.Filesystems, fs)
		}
		sort.SliceStable(out.Filesystems, func(i, j int) bool { return out.Filesystems[i].Mount < out.Filesystems[j].Mount })
	}
	if need.Temperatures {
		for _, t := range in.Temperatures {
			out.Temperatures = append(out.Temperatures, collector.Temperature{Sensor: t.Sensor, Celsius: f32(t.Celsius)})
		}
		sort.SliceStable(out.Temperatures, func(i, j int) bool { return out.Temperatures[i].Sensor < out.Temperatures[j].Sensor })
	}
}
