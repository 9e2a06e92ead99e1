package zfs

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// SnapshotColumns is the -o argument the snapshot functions expect:
// `zfs list -Hp -t snapshot -o name,used,creation`.
const SnapshotColumns = "name,used,creation"

// SnapshotSummary sums up one dataset's snapshots.
type SnapshotSummary struct {
	Dataset string `json:"dataset"`
	Count   uint64 `json:"count"`
	// UsedBytes is the sum of the snapshots' used space (space only they hold).
	UsedBytes uint64 `json:"used_bytes"`
	// Oldest and Newest are the snapshot names (after the @) with their creation times.
	Oldest        string    `json:"oldest"`
	OldestCreated time.Time `json:"oldest_created"`
	Newest        string    `json:"newest"`
	NewestCreated time.Time `json:"newest_created"`
}

// Snapshot is one snapshot of a listing page.
type Snapshot struct {
	// Name is the full name, dataset@snapshot.
	Name      string    `json:"name"`
	Dataset   string    `json:"dataset"`
	UsedBytes uint64    `json:"used_bytes"`
	Created   time.Time `json:"created"`
}

type snapLine struct {
	dataset, snap string
	used          uint64
	created       int64
}

// readSnapshots streams `zfs list -Hp -o name,used,creation -t snapshot` from r, calling fn per well-formed
// line. Only one line is held at a time, so a device with 100,000 snapshots costs one line of memory here.
func readSnapshots(r io.Reader, fn func(snapLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			continue
		}
		name := f[0]
		at := strings.IndexByte(name, '@')
		if at <= 0 || at == len(name)-1 {
			continue
		}
		used, ok := parseSize(f[1])
		if !ok {
			continue
		}
		created, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
		if err != nil || created < 0 || created > 1<<40 {
			continue
		}
		if err := fn(snapLine{dataset: name[:at], snap: name[at+1:], used: used, created: created}); err != nil {
			return err
		}
	}
	return clipError(sc.Err())
}

// SummarizeSnapshots reads `zfs list -Hp -t snapshot -o` SnapshotColumns from r and sums the snapshots up
// per dataset, sorted by dataset name. Memory grows with the number of datasets (at most MaxDatasets, more
// fail with ErrLimit), never with the number of snapshots. Malformed lines are skipped.
func SummarizeSnapshots(r io.Reader) ([]SnapshotSummary, error) {
	byDataset := map[string]*SnapshotSummary{}
	err := readSnapshots(r, func(l snapLine) error {
		s := byDataset[l.dataset]
		if s == nil {
			if len(byDataset) == MaxDatasets {
				return tooMany("datasets with snapshots", MaxDatasets)
			}
			s = &SnapshotSummary{Dataset: safetext.Clip(l.dataset, MaxFieldBytes)}
			byDataset[l.dataset] = s
		}
		t := time.Unix(l.created, 0).UTC()
		if s.Count == 0 || t.Before(s.OldestCreated) {
			s.Oldest, s.OldestCreated = safetext.Clip(l.snap, MaxFieldBytes), t
		}
		if s.Count == 0 || !t.Before(s.NewestCreated) {
			s.Newest, s.NewestCreated = safetext.Clip(l.snap, MaxFieldBytes), t
		}
		s.Count++
		s.UsedBytes = addSat(s.UsedBytes, l.used)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotSummary, 0, len(byDataset))
	for _, s := range byDataset {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset < out[j].Dataset })
	return out, nil
}

// ErrBadCursor reports a cursor ListSnapshots did not issue.
var ErrBadCursor = errors.New("invalid snapshot cursor")

// ListSnapshots reads the same listing as SummarizeSnapshots and returns one page of the snapshots of dataset
// ("" for all), ordered by creation time and then name: the limit (1 to MaxPageSize) first snapshots after
// cursor ("" for the first page). next is the cursor of the following page, "" on the last one. The cursor
// names a position in that order, not an index, so snapshots created or destroyed between pages neither
// repeat nor shift the rest. Memory is bounded by limit: the page is kept in a heap while the listing streams.
func ListSnapshots(r io.Reader, dataset, cursor string, limit int) (page []Snapshot, next string, err error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, "", fmt.Errorf("limit %d: must be 1 to %d", limit, MaxPageSize)
	}
	var after *snapKey
	if cursor != "" {
		k, err := parseCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		after = &k
	}
	// h keeps the limit+1 smallest keys after the cursor; the extra one tells whether a next page exists.
	h := &snapHeap{}
	err = readSnapshots(r, func(l snapLine) error {
		if dataset != "" && l.dataset != dataset {
			return nil
		}
		k := snapKey{created: l.created, name: l.dataset + "@" + l.snap}
		if len(k.name) > 2*MaxFieldBytes {
			return nil // a name this long is not zfs's and cannot make a usable cursor
		}
		if after != nil && !after.less(k) {
			return nil
		}
		if h.Len() <= limit {
			heap.Push(h, snapItem{k, l.used})
		} else if k.less((*h)[0].key) {
			(*h)[0] = snapItem{k, l.used}
			heap.Fix(h, 0)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	items := []snapItem(*h)
	sort.Slice(items, func(i, j int) bool { return items[i].key.less(items[j].key) })
	if len(items) > limit {
		items = items[:limit]
		last := items[len(items)-1].key
		next = strconv.FormatInt(last.created, 10) + "/" + last.name
	}
	page = make([]Snapshot, 0, len(items))
	for _, it := range items {
		at := strings.IndexByte(it.key.name, '@')
		page = append(page, Snapshot{Name: it.key.name, Dataset: it.key.name[:at], UsedBytes: it.used,
			Created: time.Unix(it.key.created, 0).UTC()})
	}
	return page, next, nil
}

type snapKey struct {
	created int64
	name    string
}

func (a snapKey) less(b snapKey) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.name < b.name
}

func parseCursor(c string) (snapKey, error) {
	i := strings.IndexByte(c, '/')
	if i <= 0 || len(c) > 2*MaxFieldBytes+24 {
		return snapKey{}, ErrBadCursor
	}
	created, err := strconv.ParseInt(c[:i], 10, 64)
	if err != nil || !strings.Contains(c[i+1:], "@") {
		return snapKey{}, ErrBadCursor
	}
	return snapKey{created: created, name: c[i+1:]}, nil
}

type snapItem struct {
	key  snapKey
	used uint64
}

// snapHeap is a max-heap on key: its root is the largest of the kept keys, the one to evict.
type snapHeap []snapItem

func (h snapHeap) Len() int           { return len(h) }
func (h snapHeap) Less(i, j int) bool { return h[j].key.less(h[i].key) }
func (h snapHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *snapHeap) Push(x any)        { *h = append(*h, x.(snapItem)) }
func (h *snapHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func addSat(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}
