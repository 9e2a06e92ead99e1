package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// sampleLabels are the names a poll's per-entity values are stored in the order of (migration 0020): the
// filesystems, disks, interfaces, sensors and sampled containers of one poll. They are stored once per device and
// distinct set (sample_labels), and every poll row refers to them by key.
type sampleLabels struct {
	Mountpoints, FSSources, FSTypes []string
	Disks, Ifaces, Sensors          []string
	ContainerIDs, ContainerNames    []string
}

// key identifies the set of names: the first 8 bytes of a SHA-256 over every list, each name length-prefixed so
// that no two different sets encode alike. A device has a handful of sets over its life, so a 64-bit collision
// between two of them is not a concern.
func (l *sampleLabels) key() int64 {
	h := sha256.New()
	var n [4]byte
	for _, list := range [][]string{l.Mountpoints, l.FSSources, l.FSTypes, l.Disks, l.Ifaces, l.Sensors,
		l.ContainerIDs, l.ContainerNames} {
		binary.BigEndian.PutUint32(n[:], uint32(len(list)))
		h.Write(n[:])
		for _, s := range list {
			binary.BigEndian.PutUint32(n[:], uint32(len(s)))
			h.Write(n[:])
			h.Write([]byte(s))
		}
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)[:8]))
}

// queueLabels adds the statements that store the poll's names, unless the device has them already, and mark them
// used on the poll's UTC day to the poll's batch. They are sent every poll, in the same round trip as the sample
// rows: when the names are stored the insert finds the key in the primary key and writes nothing, and the update
// writes only on a poll's first use of them in a day (a separate UPDATE, not ON CONFLICT DO UPDATE, which would
// lock the row every poll).
func queueLabels(b *pgx.Batch, device uuid.UUID, l *sampleLabels, key int64, at time.Time) {
	day := at.UTC().Format(time.DateOnly)
	b.Queue(`INSERT INTO sample_labels (device_id, key, mountpoints, fs_sources, fs_types, disks, ifaces, sensors,
		container_ids, container_names, used_on) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11::date) ON CONFLICT DO NOTHING`,
		device, key, orEmpty(l.Mountpoints), orEmpty(l.FSSources), orEmpty(l.FSTypes), orEmpty(l.Disks), orEmpty(l.Ifaces),
		orEmpty(l.Sensors), orEmpty(l.ContainerIDs), orEmpty(l.ContainerNames), day)
	b.Queue(`UPDATE sample_labels SET used_on = $3::date WHERE device_id = $1 AND key = $2 AND used_on < $3::date`,
		device, key, day)
}

// pruneLabels deletes the names no poll has used since before the day `before`: every sample that could refer to
// them is past retention.
func pruneLabels(ctx context.Context, db DBTX, before time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM sample_labels WHERE used_on < $1::date`, before.UTC().Format(time.DateOnly))
	if err != nil {
		return 0, fmt.Errorf("prune sample labels: %w", err)
	}
	return tag.RowsAffected(), nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// compactPoll is one poll in the shape of migration 0020: the system row's arrays, the container row and the names.
type compactPoll struct {
	labels sampleLabels
	fs     [][]int64
	diskio [][]float32
	net    [][]float32
	temps  []float32
	// containers: stats[i] = cpu, rx, tx, block read, block write (nil where unknown); mem[i] = used, limit.
	stats [][]*float32
	mem   [][]int64
	pids  []int32
	// entities counts the per-entity samples (filesystems, disks, interfaces, sensors, containers).
	entities int64
}

func f32p(v *float64) *float32 {
	if v == nil {
		return nil
	}
	f := float32(*v)
	return &f
}

// compact lays the poll's per-entity values out as arrays, in the order the collector reported them.
func compact(w *PollWrite) *compactPoll {
	m := &w.Metrics
	c := &compactPoll{}
	for _, f := range m.Filesystems {
		c.labels.Mountpoints = append(c.labels.Mountpoints, f.Mount)
		c.labels.FSSources = append(c.labels.FSSources, f.Source)
		c.labels.FSTypes = append(c.labels.FSTypes, f.FSType)
		c.fs = append(c.fs, []int64{int64(f.SizeBytes), int64(f.UsedBytes), int64(f.AvailBytes), int64(f.InodesTotal),
			int64(f.InodesUsed)})
	}
	for _, d := range m.Disks {
		c.labels.Disks = append(c.labels.Disks, d.Name)
		c.diskio = append(c.diskio, []float32{float32(d.ReadBytesPerSec), float32(d.WriteBytesPerSec),
			float32(d.ReadIOPS), float32(d.WriteIOPS), float32(d.UtilPercent)})
	}
	for _, n := range m.Interfaces {
		c.labels.Ifaces = append(c.labels.Ifaces, n.Name)
		c.net = append(c.net, []float32{float32(n.RxBytesPerSec), float32(n.TxBytesPerSec), float32(n.RxPacketsPerSec),
			float32(n.TxPacketsPerSec), float32(n.RxErrorsPerSec), float32(n.TxErrorsPerSec), float32(n.RxDropsPerSec),
			float32(n.TxDropsPerSec)})
	}
	for _, t := range m.Temperatures {
		c.labels.Sensors = append(c.labels.Sensors, t.Sensor)
		c.temps = append(c.temps, float32(t.Celsius))
	}
	if w.Containers != nil {
		for _, s := range w.Containers.Samples {
			c.labels.ContainerIDs = append(c.labels.ContainerIDs, s.ContainerID)
			c.labels.ContainerNames = append(c.labels.ContainerNames, s.Name)
			c.stats = append(c.stats, []*float32{f32p(s.CPUPercent), f32p(s.NetRxBps), f32p(s.NetTxBps),
				f32p(s.BlockReadBps), f32p(s.BlockWriteBps)})
			c.mem = append(c.mem, []int64{int64(s.MemUsed), int64(s.MemLimit)})
			c.pids = append(c.pids, int32(s.PIDs))
		}
	}
	c.entities = int64(len(c.fs) + len(c.diskio) + len(c.net) + len(c.temps) + len(c.pids))
	return c
}

// orNil stores an empty list as NULL: the poll had none of them.
func orNil[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s
}
