package zfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseStatusJSON parses `zpool status -j` (OpenZFS 2.3 and later; with or without -p and --json-int). The
// shape is documented in zpool-status(8) and produced by cmd/zpool/zpool_main.c: "pools" maps each pool name
// to an object with name, state, status, action, moreinfo, scan_stats, vdevs (the root vdev, itself holding
// "vdevs"), logs, l2cache, spares and error_count. Numbers are strings unless --json-int is given; both are
// accepted. JSON objects have no order, so children are sorted by name with numbers compared as numbers
// (mirror-2 before mirror-10), which matches zpool's own order for top-level vdevs.
func ParseStatusJSON(b []byte, loc *time.Location) ([]Pool, error) {
	if loc == nil {
		loc = time.UTC
	}
	var raw struct {
		Pools map[string]*jsonPool `json:"pools"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, clipError(fmt.Errorf("parse zpool status -j: %w", err))
		}
	}
	if len(raw.Pools) > MaxPools {
		return nil, tooMany("pools", MaxPools)
	}
	names := make([]string, 0, len(raw.Pools))
	for name := range raw.Pools {
		names = append(names, name)
	}
	sort.Strings(names)
	pools := make([]Pool, 0, len(names))
	for _, name := range names {
		jp := raw.Pools[name]
		if jp == nil {
			continue
		}
		p := Pool{}
		p.Name = p.clip(firstNonEmpty(jp.Name.s, name), MaxFieldBytes)
		p.State = p.clip(jp.State.s, MaxFieldBytes)
		// Early versions printed an internal code ("FAULTED_DEV_R", "OK") instead of the text; a code has no
		// spaces and is not shown.
		if st := joinLines(jp.Status.s); strings.Contains(st, " ") {
			p.Status = p.clip(st, MaxTextBytes)
		}
		p.Action = p.clip(joinLines(jp.Action.s), MaxTextBytes)
		p.See = p.clip(jp.MoreInfo.s, MaxFieldBytes)
		p.Scan = jp.Scan.scan(loc)
		for _, rootName := range sortedKeys(jp.Vdevs) {
			jv := jp.Vdevs[rootName]
			if jv == nil || p.Root != nil {
				continue
			}
			shallow := *jv
			shallow.Vdevs = nil
			root := p.vdev(rootName, &shallow, 0)
			// Special and dedup vdevs sit among the root's children, marked by class.
			for _, k := range sortedKeys(jv.Vdevs) {
				c := jv.Vdevs[k]
				if c == nil {
					continue
				}
				if p.vdevCount >= MaxVdevsPerPool {
					p.noteTruncated(TruncatedVdevs)
					break
				}
				child := p.vdev(k, c, 1)
				switch c.Class.s {
				case "special":
					p.Special = append(p.Special, child)
				case "dedup":
					p.Dedup = append(p.Dedup, child)
				case "log":
					p.Logs = append(p.Logs, child)
				default:
					root.Children = append(root.Children, child)
				}
			}
			p.Root = &root
		}
		p.Logs = append(p.Logs, p.vdevList(jp.Logs)...)
		p.Cache = p.vdevList(jp.L2Cache)
		p.Spares = p.vdevList(jp.Spares)
		if n, ok := parseSize(jp.ErrorCount.s); ok {
			p.DataErrors = &n
			if n == 0 {
				p.Errors = "No known data errors"
			} else {
				p.Errors = fmt.Sprintf("%d data errors", n)
			}
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// jstr is a JSON string or number, kept as text: zpool prints numbers as strings unless --json-int.
type jstr struct{ s string }

func (j *jstr) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err == nil {
			j.s = s
		}
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		j.s = string(b)
	}
	return nil
}

type jsonPool struct {
	Name       jstr                 `json:"name"`
	State      jstr                 `json:"state"`
	Status     jstr                 `json:"status"`
	Action     jstr                 `json:"action"`
	MoreInfo   jstr                 `json:"moreinfo"`
	ErrorCount jstr                 `json:"error_count"`
	Scan       *jsonScan            `json:"scan_stats"`
	Vdevs      map[string]*jsonVdev `json:"vdevs"`
	Logs       map[string]*jsonVdev `json:"logs"`
	L2Cache    map[string]*jsonVdev `json:"l2cache"`
	Spares     map[string]*jsonVdev `json:"spares"`
}

type jsonVdev struct {
	Name     jstr                 `json:"name"`
	State    jstr                 `json:"state"`
	Class    jstr                 `json:"class"`
	Read     jstr                 `json:"read_errors"`
	Write    jstr                 `json:"write_errors"`
	Checksum jstr                 `json:"checksum_errors"`
	Note     jstr                 `json:"aux"`
	Vdevs    map[string]*jsonVdev `json:"vdevs"`
}

type jsonScan struct {
	Function  jstr `json:"function"`
	State     jstr `json:"state"`
	Start     jstr `json:"start_time"`
	End       jstr `json:"end_time"`
	ToExamine jstr `json:"to_examine"`
	Examined  jstr `json:"examined"`
	Issued    jstr `json:"issued"`
	Processed jstr `json:"processed"`
	Errors    jstr `json:"errors"`
	Pause     jstr `json:"scrub_pause"`
}

func (p *Pool) vdev(key string, jv *jsonVdev, depth int) Vdev {
	v := Vdev{Name: p.clip(firstNonEmpty(jv.Name.s, key), MaxFieldBytes), State: p.clip(jv.State.s, MaxFieldBytes)}
	v.Read, _ = parseSize(jv.Read.s)
	v.Write, _ = parseSize(jv.Write.s)
	v.Checksum, _ = parseSize(jv.Checksum.s)
	v.Note = p.clip(jv.Note.s, MaxFieldBytes)
	p.vdevCount++
	for _, k := range sortedKeys(jv.Vdevs) {
		c := jv.Vdevs[k]
		if c == nil {
			continue
		}
		if depth+1 >= MaxVdevDepth || p.vdevCount >= MaxVdevsPerPool {
			p.noteTruncated(TruncatedVdevs)
			break
		}
		v.Children = append(v.Children, p.vdev(k, c, depth+1))
	}
	return v
}

func (p *Pool) vdevList(m map[string]*jsonVdev) []Vdev {
	var out []Vdev
	for _, k := range sortedKeys(m) {
		if m[k] == nil {
			continue
		}
		if p.vdevCount >= MaxVdevsPerPool {
			p.noteTruncated(TruncatedVdevs)
			break
		}
		out = append(out, p.vdev(k, m[k], 1))
	}
	return out
}

func (s *jsonScan) scan(loc *time.Location) *Scan {
	if s == nil {
		return nil
	}
	sc := &Scan{}
	switch strings.ToUpper(s.Function.s) {
	case "SCRUB":
		sc.Function = ScanScrub
	case "RESILVER":
		sc.Function = ScanResilver
	default:
		return nil // NONE, ERRORSCRUB and unknown functions are no scan to report
	}
	switch strings.ToUpper(s.State.s) {
	case "SCANNING":
		sc.State = ScanInProgress
		if p := s.Pause.s; p != "" && p != "-" && p != "0" {
			sc.State = ScanPaused
		}
	case "FINISHED":
		sc.State = ScanFinished
	case "CANCELED":
		sc.State = ScanCanceled
	default:
		return nil
	}
	sc.Start = jsonTime(s.Start.s, loc)
	if sc.State != ScanInProgress && sc.State != ScanPaused {
		sc.End = jsonTime(s.End.s, loc)
	}
	if sc.Start != nil && sc.End != nil && !sc.End.Before(*sc.Start) {
		secs := int64(sc.End.Sub(*sc.Start) / time.Second)
		sc.DurationSeconds = &secs
	}
	set := func(dst **uint64, v string) {
		if n, ok := parseSize(v); ok {
			*dst = &n
		}
	}
	set(&sc.TotalBytes, s.ToExamine.s)
	set(&sc.ScannedBytes, s.Examined.s)
	set(&sc.IssuedBytes, s.Issued.s)
	set(&sc.RepairedBytes, s.Processed.s)
	set(&sc.Errors, s.Errors.s)
	if sc.State == ScanInProgress && sc.TotalBytes != nil && *sc.TotalBytes > 0 && sc.IssuedBytes != nil {
		pct := float64(*sc.IssuedBytes) / float64(*sc.TotalBytes) * 100
		pct = float64(int64(pct*100)) / 100
		sc.ProgressPercent = &pct
	}
	sc.Text = fmt.Sprintf("%s %s", sc.Function, strings.ReplaceAll(string(sc.State), "_", " "))
	return sc
}

// joinLines joins zpool's wrapped text ("...An\n\tattempt was made...") the way ParseStatus joins the
// continuation lines of the text output.
func joinLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

// jsonTime reads a scan time: seconds since the epoch (--json-int) or text ("Wed Jan  7 02:35:05 AM PST 2026"
// or ctime). A zone abbreviation that is not loc's keeps its wall time with an unknown offset: prefer
// --json-int.
func jsonTime(s string, loc *time.Location) *time.Time {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" || s == "0" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > 1<<40 {
			return nil
		}
		t := time.Unix(n, 0).In(loc)
		return &t
	}
	if t, ok := parseCtime(s, loc); ok {
		return &t
	}
	for _, layout := range []string{"Mon Jan _2 03:04:05 PM MST 2006", "Mon Jan _2 15:04:05 MST 2006"} {
		if t, err := time.ParseInLocation(layout, strings.Join(strings.Fields(s), " "), loc); err == nil {
			return &t
		}
	}
	return nil
}

func sortedKeys(m map[string]*jsonVdev) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return naturalLess(keys[i], keys[j]) })
	return keys
}

// naturalLess orders strings with runs of digits compared as numbers: mirror-2 < mirror-10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// JSONRefused reports whether zpool's output (stdout and stderr together) says it does not know -j: OpenZFS
// before 2.3 prints "invalid option 'j'" and its usage. The caller then falls back to `zpool status -p` and
// ParseStatus.
func JSONRefused(out []byte) bool {
	return bytes.Contains(out, []byte("invalid option 'j'")) || bytes.Contains(out, []byte("unrecognized option '--json"))
}
