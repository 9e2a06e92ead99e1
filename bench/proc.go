package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times on Linux.
const clockTicks = 100

// procUsage is one process's CPU time and resident memory.
type procUsage struct {
	CPUSeconds float64 // user + system of the process itself
	ChildCPU   float64 // user + system of its reaped children
	RSSBytes   int64
	PPID       int
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procUsage, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	// The command name is in parentheses and may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 22 {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k], 64); return v }
	// f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17, ppid 4, rss 24 (pages).
	u := procUsage{
		CPUSeconds: (num(11) + num(12)) / clockTicks,
		ChildCPU:   (num(13) + num(14)) / clockTicks,
		PPID:       int(num(1)),
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				u.RSSBytes = kb * 1024
			}
		}
	}
	return u, nil
}

// treeCPU is the CPU time of pid, its reaped children and its live direct children: for PostgreSQL that is the
// postmaster and every backend, for a process that forks nothing just the process.
func treeCPU(pid int) (float64, error) {
	root, err := readProc(pid)
	if err != nil {
		return 0, err
	}
	total := root.CPUSeconds + root.ChildCPU
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil || child == pid {
			continue
		}
		u, err := readProc(child)
		if err != nil || u.PPID != pid {
			continue
		}
		total += u.CPUSeconds
	}
	return total, nil
}
