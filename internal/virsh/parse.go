package virsh

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// State is a domain state as virsh prints it.
type State string

// Domain states (virsh domstate / list / dominfo).
const (
	StateRunning     State = "running"
	StateIdle        State = "idle"
	StatePaused      State = "paused"
	StateInShutdown  State = "in shutdown"
	StateShutOff     State = "shut off"
	StateCrashed     State = "crashed"
	StatePMSuspended State = "pmsuspended"
	StateNoState     State = "no state"
)

// Active reports whether the domain has a running instance (an Id).
func (s State) Active() bool {
	switch s {
	case StateRunning, StateIdle, StatePaused, StateInShutdown, StatePMSuspended:
		return true
	}
	return false
}

// ListEntry is one row of `virsh list --all`.
type ListEntry struct {
	// ID is the running instance's id, 0 for an inactive domain ("-").
	ID    int    `json:"id,omitempty"`
	Name  string `json:"name"`
	State State  `json:"state"`
}

// Info is `virsh dominfo`.
type Info struct {
	ID            int     `json:"id,omitempty"`
	Name          string  `json:"name"`
	UUID          string  `json:"uuid,omitempty"`
	OSType        string  `json:"os_type,omitempty"`
	State         State   `json:"state"`
	VCPUs         int     `json:"vcpus"`
	CPUTimeSec    float64 `json:"cpu_time_sec,omitempty"`
	MaxMemoryKiB  uint64  `json:"max_memory_kib"`
	UsedMemoryKiB uint64  `json:"used_memory_kib"`
	Persistent    bool    `json:"persistent"`
	Autostart     bool    `json:"autostart"`
	ManagedSave   bool    `json:"managed_save,omitempty"`
}

// Disk is one row of `virsh domblklist --details`.
type Disk struct {
	Type   string `json:"type"`
	Device string `json:"device"`
	Target string `json:"target"`
	// Source is the image file or block device, "" for an empty drive (virsh prints "-").
	Source string `json:"source,omitempty"`
}

// Interface is one row of `virsh domiflist`.
type Interface struct {
	Name   string `json:"name,omitempty"`
	Type   string `json:"type"`
	Source string `json:"source,omitempty"`
	Model  string `json:"model,omitempty"`
	MAC    string `json:"mac"`
}

type table struct {
	header []string
	rows   [][]string
}

// lines splits b into lines without allocating per line beyond the slice headers.
func lines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, bytes.TrimRight(b, "\r"))
			break
		}
		out = append(out, bytes.TrimRight(b[:i], "\r"))
		b = b[i+1:]
	}
	return out
}

// parseTable reads virsh's tables: a header line, a line of dashes, then rows whose columns start where the
// header's column names start. Column positions, not whitespace, split a row, so a cell with spaces ("shut
// off") stays whole; the last column takes the rest of the line.
func parseTable(b []byte, want []string, maxRows int) (*table, bool, error) {
	ls := lines(b)
	h := -1
	for i, l := range ls {
		if len(bytes.TrimSpace(l)) > 0 {
			h = i
			break
		}
	}
	if h < 0 {
		return nil, false, fmt.Errorf("%w: empty", ErrNotVirsh)
	}
	header := string(ls[h])
	if h+1 >= len(ls) || !isDashes(ls[h+1]) {
		return nil, false, fmt.Errorf("%w: no table header", ErrNotVirsh)
	}
	names := strings.Fields(header)
	if len(names) != len(want) {
		return nil, false, fmt.Errorf("%w: header %q", ErrNotVirsh, clip(header, 100))
	}
	starts := make([]int, len(names))
	from := 0
	for i, n := range names {
		if !strings.EqualFold(n, want[i]) {
			return nil, false, fmt.Errorf("%w: header %q", ErrNotVirsh, clip(header, 100))
		}
		j := strings.Index(header[from:], n)
		starts[i] = from + j
		from += j + len(n)
	}
	t := &table{header: names}
	truncated := false
	for _, l := range ls[h+2:] {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if len(t.rows) >= maxRows {
			truncated = true
			break
		}
		s := string(l)
		row := make([]string, len(starts))
		pos := 0
		for i, st := range starts {
			// virsh sizes columns to their widest cell, so cells start at their header. Should a cell be wider
			// anyway, a column boundary inside a word moves to the end of that word.
			pos = max(pos, st)
			if pos >= len(s) {
				break
			}
			end := len(s)
			if i+1 < len(starts) {
				end = max(pos, min(starts[i+1], len(s)))
				for end < len(s) && end > 0 && s[end-1] != ' ' && s[end] != ' ' {
					end++
				}
			}
			row[i] = clip(strings.TrimSpace(s[pos:end]), MaxFieldBytes)
			pos = end
		}
		t.rows = append(t.rows, row)
	}
	return t, truncated, nil
}

func isDashes(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && len(bytes.Trim(b, "-")) == 0
}

// ParseList reads `virsh list --all`. truncated is true when more than MaxDomains rows were dropped.
func ParseList(b []byte) (entries []ListEntry, truncated bool, err error) {
	t, truncated, err := parseTable(b, []string{"Id", "Name", "State"}, MaxDomains)
	if err != nil {
		return nil, false, err
	}
	entries = make([]ListEntry, 0, len(t.rows))
	for _, r := range t.rows {
		if r[1] == "" {
			continue
		}
		e := ListEntry{Name: r[1], State: State(r[2])}
		if r[0] != "-" {
			e.ID, _ = strconv.Atoi(r[0])
		}
		entries = append(entries, e)
	}
	return entries, truncated, nil
}

// ParseNames reads `virsh list --all --name`: one name per line, with a trailing empty line.
func ParseNames(b []byte) (names []string, truncated bool) {
	for _, l := range lines(b) {
		n := string(bytes.TrimSpace(l))
		if n == "" {
			continue
		}
		if len(names) >= MaxDomains {
			return names, true
		}
		names = append(names, clip(n, MaxFieldBytes))
	}
	return names, false
}

// ParseInfo reads `virsh dominfo`. Unknown keys are ignored; Name and State are required.
func ParseInfo(b []byte) (*Info, error) {
	in := &Info{}
	keys := 0
	for _, l := range lines(b) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		if keys++; keys > maxInfoKeys {
			break
		}
		val := clip(string(bytes.TrimSpace(v)), MaxFieldBytes)
		switch string(bytes.TrimSpace(k)) {
		case "Id":
			if val != "-" {
				in.ID, _ = strconv.Atoi(val)
			}
		case "Name":
			in.Name = val
		case "UUID":
			in.UUID = val
		case "OS Type":
			in.OSType = val
		case "State":
			in.State = State(val)
		case "CPU(s)":
			in.VCPUs, _ = strconv.Atoi(val)
		case "CPU time":
			in.CPUTimeSec, _ = strconv.ParseFloat(strings.TrimSuffix(val, "s"), 64)
		case "Max memory":
			in.MaxMemoryKiB = parseKiB(val)
		case "Used memory":
			in.UsedMemoryKiB = parseKiB(val)
		case "Persistent":
			in.Persistent = val == "yes"
		case "Autostart":
			in.Autostart = val == "enable"
		case "Managed save":
			in.ManagedSave = val == "yes"
		}
	}
	if in.Name == "" || in.State == "" {
		return nil, fmt.Errorf("%w: dominfo without Name or State", ErrNotVirsh)
	}
	return in, nil
}

// parseKiB reads "8388608 KiB"; virsh prints "no limit" for unlimited memory, read as 0.
func parseKiB(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(s, "KiB")), 10, 64)
	return n
}

// ParseBlkList reads `virsh domblklist --details` (Type, Device, Target, Source).
func ParseBlkList(b []byte) ([]Disk, bool, error) {
	t, truncated, err := parseTable(b, []string{"Type", "Device", "Target", "Source"}, MaxDevices)
	if err != nil {
		return nil, false, err
	}
	out := make([]Disk, 0, len(t.rows))
	for _, r := range t.rows {
		d := Disk{Type: r[0], Device: r[1], Target: r[2], Source: r[3]}
		if d.Source == "-" {
			d.Source = ""
		}
		out = append(out, d)
	}
	return out, truncated, nil
}

// ParseIfList reads `virsh domiflist` (Interface, Type, Source, Model, MAC); "-" becomes "".
func ParseIfList(b []byte) ([]Interface, bool, error) {
	t, truncated, err := parseTable(b, []string{"Interface", "Type", "Source", "Model", "MAC"}, MaxDevices)
	if err != nil {
		return nil, false, err
	}
	out := make([]Interface, 0, len(t.rows))
	for _, r := range t.rows {
		for i := range r {
			if r[i] == "-" {
				r[i] = ""
			}
		}
		out = append(out, Interface{Name: r[0], Type: r[1], Source: r[2], Model: r[3], MAC: r[4]})
	}
	return out, truncated, nil
}

// ParseDomState reads `virsh domstate --reason`: "shut off (destroyed)" or, without --reason, "running".
func ParseDomState(b []byte) (State, string, error) {
	for _, l := range lines(b) {
		s := strings.TrimSpace(string(l))
		if s == "" {
			continue
		}
		state, reason, _ := strings.Cut(s, " (")
		reason = strings.TrimSuffix(reason, ")")
		switch st := State(state); st {
		case StateRunning, StateIdle, StatePaused, StateInShutdown, StateShutOff, StateCrashed, StatePMSuspended, StateNoState:
			return st, clip(reason, MaxFieldBytes), nil
		}
		return "", "", fmt.Errorf("%w: domstate %q", ErrNotVirsh, clip(s, 100))
	}
	return "", "", fmt.Errorf("%w: empty domstate", ErrNotVirsh)
}
