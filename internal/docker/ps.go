package docker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// psJSON is one line of `docker ps --format '{{json .}}'`: every value is display text.
type psJSON struct {
	ID         string
	Names      string
	Image      string
	Command    string
	CreatedAt  string
	State      string
	Status     string
	Ports      string
	Mounts     string
	Networks   string
	Labels     string
	RunningFor string
}

// ParsePS parses the output of Inventory: one JSON object per line. Blank lines are ignored; a malformed line
// fails the whole parse, naming the line, because a partial inventory would look like removed containers.
func ParsePS(out []byte) ([]Container, error) {
	cs, err := parsePS(out)
	return cs, clipError(err)
}

func parsePS(out []byte) ([]Container, error) {
	var cs []Container
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(cs) >= MaxContainers {
			return nil, fmt.Errorf("docker ps: %w", tooMany("containers", MaxContainers))
		}
		c, err := ParsePSLine(line)
		if err != nil {
			return nil, fmt.Errorf("docker ps line %d: %w", n, err)
		}
		cs = append(cs, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("docker ps: %w", err)
	}
	return cs, nil
}

// ParsePSLine parses one `docker ps --format '{{json .}}'` object.
func ParsePSLine(line []byte) (Container, error) {
	var p psJSON
	if err := json.Unmarshal(line, &p); err != nil {
		return Container{}, fmt.Errorf("decode: %w", err)
	}
	if p.ID == "" {
		return Container{}, fmt.Errorf("decode: no ID")
	}
	if err := checkID(p.ID); err != nil {
		return Container{}, fmt.Errorf("decode: %w", err)
	}
	c := Container{ID: p.ID, Health: healthFromStatus(p.Status)}
	c.Name = c.clip(firstName(p.Names))
	c.Image = c.clip(p.Image)
	c.Command = c.clip(strings.Trim(p.Command, `"`))
	c.Status = c.clip(p.Status)
	c.State = State(c.clip(p.State))
	if c.State == "" {
		// docker before 1.13 had no State column; the status text carries it.
		c.State = stateFromStatus(p.Status)
	}
	if code, ok := exitCodeFromStatus(p.Status); ok {
		c.ExitCode = code
	}
	if p.CreatedAt != "" {
		t, err := time.Parse("2006-01-02 15:04:05 -0700 MST", p.CreatedAt)
		if err != nil {
			return Container{}, fmt.Errorf("container %s: CreatedAt: %w", p.ID, err)
		}
		c.Created = t.UTC()
	}
	ports, more, err := parsePSPorts(p.Ports)
	if err != nil {
		return Container{}, fmt.Errorf("container %s: Ports: %w", p.ID, err)
	}
	c.Ports = ports
	if more {
		c.noteTruncated(TruncatedPorts)
	}
	for m := range listItems(p.Mounts) {
		if len(c.Mounts) >= MaxMountsPerContainer {
			c.noteTruncated(TruncatedMounts)
			break
		}
		if strings.HasPrefix(m, "/") {
			c.Mounts = append(c.Mounts, Mount{Source: c.clip(m)})
		} else {
			c.Mounts = append(c.Mounts, Mount{Name: c.clip(m)})
		}
	}
	for n := range listItems(p.Networks) {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		n = c.clip(n)
		if _, dup := c.Networks[n]; !dup && len(c.Networks) >= MaxNetworksPerContainer {
			c.noteTruncated(TruncatedNetworks)
			break
		}
		c.Networks[n] = ""
	}
	c.Labels = c.parsePSLabels(p.Labels)
	c.fillCompose()
	return c, nil
}

// firstName returns the container's own name: docker ps lists legacy link aliases ("other/alias") after it.
func firstName(names string) string {
	for n := range strings.SplitSeq(names, ",") {
		if n = strings.TrimPrefix(strings.TrimSpace(n), "/"); n != "" && !strings.Contains(n, "/") {
			return n
		}
	}
	return strings.TrimPrefix(names, "/")
}

// listItems yields the non-empty, trimmed items of a comma-separated list without building a slice of them:
// the callers stop at their limits, so a list of a million commas costs no memory.
func listItems(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for x := range strings.SplitSeq(s, ",") {
			if x = strings.TrimSpace(x); x != "" && !yield(x) {
				return
			}
		}
	}
}

// parsePSLabels splits docker ps's "k=v,k2=v2" label text. The format does not escape commas inside values, so
// a piece without "=" is taken as the continuation of the previous value; use ParseInspect where exact labels
// matter. A continued value is a slice of s extended in place, never re-concatenated, so a value of many commas
// costs linear time and memory.
func (c *Container) parsePSLabels(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	last, valStart := "", 0
	pos := 0
	for pos <= len(s) {
		end := strings.IndexByte(s[pos:], ',')
		if end < 0 {
			end = len(s)
		} else {
			end += pos
		}
		part := s[pos:end]
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok && last != "":
			m[last] = c.clip(s[valStart:end])
		case len(m) >= MaxLabelsPerContainer && !hasKey(m, k):
			c.noteTruncated(TruncatedLabels)
			return m
		default:
			k = c.clip(k)
			m[k] = c.clip(v)
			last, valStart = k, pos+len(part)-len(v)
		}
		pos = end + 1
	}
	return m
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// exitCodeFromStatus reads the code of an "Exited (137) 2 minutes ago" status. It is written out rather than a
// regular expression because it runs for every container of every poll (and a regexp's per-call state is
// garbage in race-detector builds, where sync.Pool drops entries).
func exitCodeFromStatus(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ")")
	if !ok || !isDigits(strings.TrimPrefix(num, "-")) {
		return 0, false
	}
	code, _ := strconv.Atoi(num)
	return code, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matchPortEntry splits one entry of docker ps's Ports column, [hostip:hostport[-end]->]port[-end]/proto, into
// the groups m[1] host IP, m[2] and m[3] host port and range end, m[4] and m[5] container port and range end,
// m[6] protocol (lower-case letters). Groups that are absent are "".
func matchPortEntry(e string) (m [7]string, ok bool) {
	rest := e
	if i := strings.LastIndex(e, "->"); i >= 0 {
		host := e[:i]
		rest = e[i+2:]
		j := strings.LastIndexByte(host, ':')
		if j < 0 {
			return m, false
		}
		m[1] = host[:j]
		if m[2], m[3], ok = digitRange(host[j+1:]); !ok {
			return m, false
		}
	}
	spec, proto, ok := strings.Cut(rest, "/")
	if !ok || proto == "" || strings.IndexFunc(proto, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return m, false
	}
	if m[4], m[5], ok = digitRange(spec); !ok {
		return m, false
	}
	m[6] = proto
	return m, true
}

// digitRange splits "80" or "80-90".
func digitRange(s string) (from, to string, ok bool) {
	from, to, hasTo := strings.Cut(s, "-")
	if !isDigits(from) || (hasTo && !isDigits(to)) {
		return "", "", false
	}
	return from, to, true
}

// parsePSPorts parses docker ps's Ports column, keeping each range as one Port. It returns at most
// MaxPortsPerContainer entries and reports whether there were more; an entry it cannot read fails it.
func parsePSPorts(s string) (ports []Port, more bool, err error) {
	for e := range listItems(s) {
		if len(e) > MaxFieldBytes {
			return nil, false, fmt.Errorf("unrecognised port %q...", clipString(e, 64))
		}
		m, ok := matchPortEntry(e)
		if !ok {
			return nil, false, fmt.Errorf("unrecognised port %q", e)
		}
		cFrom, err1 := portNumber(m[4])
		cTo, err2 := portNumber(m[5])
		if m[5] == "" {
			cTo = cFrom
		}
		if err1 != nil || err2 != nil || cTo < cFrom {
			return nil, false, fmt.Errorf("bad port range %q", e)
		}
		p := Port{HostIP: clipString(strings.TrimSuffix(strings.TrimPrefix(m[1], "["), "]"), MaxFieldBytes), ContainerPort: cFrom,
			Protocol: clipString(m[6], MaxFieldBytes)}
		if cTo > cFrom {
			p.ContainerPortEnd = cTo
		}
		if m[2] != "" {
			hFrom, err1 := portNumber(m[2])
			hTo, err2 := portNumber(m[3])
			if err1 != nil || err2 != nil {
				return nil, false, fmt.Errorf("bad port range %q", e)
			}
			p.HostPort = hFrom
			// A host range is only meaningful beside a container range of the same length; docker prints no
			// other kind, so anything else keeps only the first host port, as older parsers did.
			if m[3] != "" && hFrom != 0 && hTo > hFrom && hTo-hFrom == cTo-cFrom {
				p.HostPortEnd = hTo
			}
		}
		if len(ports) >= MaxPortsPerContainer {
			return ports, true, nil
		}
		ports = append(ports, p)
	}
	return ports, false, nil
}

// portNumber parses a port number, 0 to 65535; "" is 0.
func portNumber(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

func healthFromStatus(status string) Health {
	switch {
	case strings.Contains(status, "(healthy)"):
		return HealthHealthy
	case strings.Contains(status, "(unhealthy)"):
		return HealthUnhealthy
	case strings.Contains(status, "(health: starting)"):
		return HealthStarting
	}
	return HealthNone
}

func stateFromStatus(status string) State {
	switch {
	case strings.HasPrefix(status, "Up") && strings.Contains(status, "(Paused)"):
		return StatePaused
	case strings.HasPrefix(status, "Up"):
		return StateRunning
	case strings.HasPrefix(status, "Restarting"):
		return StateRestarting
	case strings.HasPrefix(status, "Removal"):
		return StateRemoving
	case strings.HasPrefix(status, "Dead"):
		return StateDead
	case strings.HasPrefix(status, "Exited"):
		return StateExited
	}
	return StateCreated
}
