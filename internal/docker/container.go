package docker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is a container's lifecycle state as Docker names it.
type State string

// Container states (State.Status in docker inspect).
const (
	StateCreated    State = "created"
	StateRunning    State = "running"
	StatePaused     State = "paused"
	StateRestarting State = "restarting"
	StateRemoving   State = "removing"
	StateExited     State = "exited"
	StateDead       State = "dead"
)

// Health is the result of a container's HEALTHCHECK.
type Health string

// Health states; HealthNone when the container has no health check.
const (
	HealthNone      Health = "none"
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Port is one exposed container port, or a range of consecutive ports, and, when published, its host binding.
//
// A range is kept as one entry, the way docker ps prints it ("0.0.0.0:8000-8010->8000-8010/tcp"), never
// expanded one entry per port: a full-range mapping would otherwise be 65536 entries (#15). In JSON a single port
// is {"container_port":80,"protocol":"tcp"} as before; a range adds "container_port_end" (and "host_port_end"
// when published), so records stored before ranges existed read as single ports.
type Port struct {
	// HostIP and HostPort are empty/0 for a port that is exposed but not published.
	HostIP   string `json:"host_ip,omitempty"`
	HostPort int    `json:"host_port,omitempty"`
	// HostPortEnd is the last host port of a published range, 0 for a single port. A published range maps
	// HostPort+i to ContainerPort+i.
	HostPortEnd   int `json:"host_port_end,omitempty"`
	ContainerPort int `json:"container_port"`
	// ContainerPortEnd is the last container port of a range, 0 for a single port.
	ContainerPortEnd int    `json:"container_port_end,omitempty"`
	Protocol         string `json:"protocol"`
}

// String formats p as docker ps does: "0.0.0.0:8000-8010->80-90/tcp", "[::]:53->53/udp", "9000/tcp".
func (p Port) String() string {
	var b strings.Builder
	if p.HostPort != 0 {
		if strings.Contains(p.HostIP, ":") {
			b.WriteString("[" + p.HostIP + "]")
		} else {
			b.WriteString(p.HostIP)
		}
		b.WriteString(":" + strconv.Itoa(p.HostPort))
		if p.HostPortEnd > p.HostPort {
			b.WriteString("-" + strconv.Itoa(p.HostPortEnd))
		}
		b.WriteString("->")
	}
	b.WriteString(strconv.Itoa(p.ContainerPort))
	if p.ContainerPortEnd > p.ContainerPort {
		b.WriteString("-" + strconv.Itoa(p.ContainerPortEnd))
	}
	b.WriteString("/" + p.Protocol)
	return b.String()
}

// last returns the last container port and host port of p (equal to the first for a single port).
func (p Port) last() (int, int) {
	c, h := p.ContainerPort, p.HostPort
	if p.ContainerPortEnd > c {
		c = p.ContainerPortEnd
	}
	if p.HostPortEnd > h {
		h = p.HostPortEnd
	}
	return c, h
}

// Mount is one volume or bind mount. docker ps only reports volume names and bind sources, so from ParsePS only
// Name or Source is set.
type Mount struct {
	Type        string `json:"type,omitempty"`
	Name        string `json:"name,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
	ReadOnly    bool   `json:"read_only,omitempty"`
}

// Container is one container as seen by docker ps or docker inspect. Fields the source does not report are
// zero: ps has no times other than Created, no PID and no IPs; inspect has no Status text.
type Container struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Image        string    `json:"image"`
	ImageID      string    `json:"image_id,omitempty"`
	Command      string    `json:"command,omitempty"`
	State        State     `json:"state"`
	Status       string    `json:"status,omitempty"`
	Health       Health    `json:"health"`
	ExitCode     int       `json:"exit_code"`
	RestartCount int       `json:"restart_count"`
	PID          int       `json:"pid,omitempty"`
	Created      time.Time `json:"created"`
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	Ports        []Port    `json:"ports,omitempty"`
	Mounts       []Mount   `json:"mounts,omitempty"`
	// Networks maps network name to the container's IPv4 address on it ("" when unknown or none).
	Networks          map[string]string `json:"networks,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	ComposeProject    string            `json:"compose_project,omitempty"`
	ComposeService    string            `json:"compose_service,omitempty"`
	ComposeWorkingDir string            `json:"compose_working_dir,omitempty"`
	// Truncated names what the parser cut to its limits (TruncatedPorts, TruncatedLabels, ...; see
	// MaxPortsPerContainer and friends); empty for any real container.
	Truncated []string `json:"truncated,omitempty"`
}

// Compose labels set by docker compose (v1 and v2).
const (
	LabelComposeProject    = "com.docker.compose.project"
	LabelComposeService    = "com.docker.compose.service"
	LabelComposeWorkingDir = "com.docker.compose.project.working_dir"
)

func (c *Container) fillCompose() {
	c.ComposeProject = c.Labels[LabelComposeProject]
	c.ComposeService = c.Labels[LabelComposeService]
	c.ComposeWorkingDir = c.Labels[LabelComposeWorkingDir]
}

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

// inspectJSON is the part of a docker inspect object (GET /containers/{id}/json) we read.
type inspectJSON struct {
	ID           string `json:"Id"`
	Created      string
	Name         string
	Image        string
	RestartCount int
	Path         string
	Args         []string
	State        struct {
		Status     string
		Pid        int
		ExitCode   int
		StartedAt  string
		FinishedAt string
		Health     *struct{ Status string }
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIP, HostPort string }
		Networks map[string]struct{ IPAddress string }
	}
	Mounts []struct {
		Type, Name, Source, Destination string
		RW                              bool
	}
}

// ParseInspect parses docker inspect output: a JSON array of container objects, or a single object as the
// Engine API returns it.
func ParseInspect(data []byte) ([]Container, error) {
	cs, err := parseInspect(data)
	return cs, clipError(err)
}

func parseInspect(data []byte) ([]Container, error) {
	data = bytes.TrimSpace(data)
	var raw []inspectJSON
	if len(data) > 0 && data[0] == '{' {
		var one inspectJSON
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("docker inspect: decode: %w", err)
		}
		raw = []inspectJSON{one}
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("docker inspect: decode: %w", err)
	}
	if len(raw) > MaxContainers {
		return nil, fmt.Errorf("docker inspect: %w", tooMany("containers", MaxContainers))
	}
	cs := make([]Container, 0, len(raw))
	for _, r := range raw {
		c, err := fromInspect(r)
		if err != nil {
			return nil, fmt.Errorf("docker inspect %s: %w", r.ID, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func fromInspect(r inspectJSON) (Container, error) {
	if r.ID == "" {
		return Container{}, fmt.Errorf("no Id")
	}
	if err := checkID(r.ID); err != nil {
		return Container{}, err
	}
	c := Container{
		ID:           r.ID,
		Health:       HealthNone,
		ExitCode:     r.State.ExitCode,
		RestartCount: r.RestartCount,
		PID:          r.State.Pid,
	}
	c.Name = c.clip(strings.TrimPrefix(r.Name, "/"))
	c.Image = c.clip(r.Config.Image)
	c.ImageID = c.clip(r.Image)
	c.Command = c.clip(inspectCommand(r.Path, r.Args))
	c.State = State(c.clip(r.State.Status))
	c.Labels = c.boundLabels(r.Config.Labels)
	if r.State.Health != nil && r.State.Health.Status != "" {
		c.Health = Health(c.clip(r.State.Health.Status))
	}
	var err error
	if c.Created, err = parseEngineTime(r.Created); err != nil {
		return c, fmt.Errorf("Created: %w", err)
	}
	if c.Started, err = parseEngineTime(r.State.StartedAt); err != nil {
		return c, fmt.Errorf("StartedAt: %w", err)
	}
	if c.Finished, err = parseEngineTime(r.State.FinishedAt); err != nil {
		return c, fmt.Errorf("FinishedAt: %w", err)
	}
	// The Engine lists every port of a published range on its own ("8000/tcp", "8001/tcp", ...); they are
	// folded back into ranges as docker ps shows them, so both sources agree and a full-range mapping stays
	// one entry.
	var ports []Port
	for spec, bindings := range r.NetworkSettings.Ports {
		num, proto, _ := strings.Cut(spec, "/")
		cp, err := portNumber(num)
		if err != nil || num == "" {
			return c, fmt.Errorf("port %q: bad port number", clipString(spec, 64))
		}
		if proto == "" {
			proto = "tcp"
		}
		proto = c.clip(proto)
		if len(bindings) == 0 {
			ports = append(ports, Port{ContainerPort: cp, Protocol: proto})
		}
		for _, b := range bindings {
			hp, _ := portNumber(b.HostPort)
			ports = append(ports, Port{HostIP: c.clip(b.HostIP), HostPort: hp, ContainerPort: cp, Protocol: proto})
		}
	}
	c.Ports = foldPortRanges(ports)
	if len(c.Ports) > MaxPortsPerContainer {
		c.Ports = c.Ports[:MaxPortsPerContainer:MaxPortsPerContainer]
		c.noteTruncated(TruncatedPorts)
	}
	for _, m := range r.Mounts {
		if len(c.Mounts) >= MaxMountsPerContainer {
			c.noteTruncated(TruncatedMounts)
			break
		}
		c.Mounts = append(c.Mounts, Mount{Type: c.clip(m.Type), Name: c.clip(m.Name), Source: c.clip(m.Source),
			Destination: c.clip(m.Destination), ReadOnly: !m.RW})
	}
	// Map order is random: when there are too many, keep the first names in sorted order so the result is
	// stable from poll to poll.
	names := make([]string, 0, len(r.NetworkSettings.Networks))
	for name := range r.NetworkSettings.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > MaxNetworksPerContainer {
		names = names[:MaxNetworksPerContainer]
		c.noteTruncated(TruncatedNetworks)
	}
	for _, name := range names {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		c.Networks[c.clip(name)] = c.clip(r.NetworkSettings.Networks[name].IPAddress)
	}
	c.fillCompose()
	return c, nil
}

// inspectCommand joins Path and Args as docker ps shows the command, stopping once it is longer than
// MaxFieldBytes so a huge argument list is not joined only to be cut.
func inspectCommand(path string, args []string) string {
	var b strings.Builder
	b.WriteString(path)
	for _, a := range args {
		if b.Len() > MaxFieldBytes {
			break
		}
		b.WriteByte(' ')
		b.WriteString(clipString(a, MaxFieldBytes+1))
	}
	return strings.TrimSpace(b.String())
}

// boundLabels copies labels within MaxLabelsPerContainer and MaxFieldBytes, keeping the first keys in sorted
// order when there are too many (map order is random).
func (c *Container) boundLabels(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	if len(keys) > MaxLabelsPerContainer {
		sort.Strings(keys)
		keys = keys[:MaxLabelsPerContainer]
		c.noteTruncated(TruncatedLabels)
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[c.clip(k)] = c.clip(labels[k])
	}
	return m
}

// foldPortRanges merges runs of consecutive ports with the same protocol and host IP (and consecutive host
// ports, or none) into ranges, and returns them ordered by container port, protocol, host IP and host port.
func foldPortRanges(ports []Port) []Port {
	if len(ports) == 0 {
		return nil
	}
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		if (a.HostPort == 0) != (b.HostPort == 0) {
			return a.HostPort == 0
		}
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		return a.HostPort < b.HostPort
	})
	out := ports[:1]
	for _, p := range ports[1:] {
		cur := &out[len(out)-1]
		cLast, hLast := cur.last()
		if p.Protocol == cur.Protocol && p.HostIP == cur.HostIP && p.ContainerPort == cLast+1 &&
			((p.HostPort == 0 && cur.HostPort == 0) || (cur.HostPort != 0 && p.HostPort == hLast+1)) {
			cur.ContainerPortEnd = p.ContainerPort
			if p.HostPort != 0 {
				cur.HostPortEnd = p.HostPort
			}
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
	return slices.Clip(out)
}

// parseEngineTime parses the Engine's RFC 3339 times; Go's zero time ("0001-01-01T00:00:00Z", used for "never")
// and "" become the zero time.Time.
func parseEngineTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// ParseLogLine splits a line of Logs output into its timestamp and text.
func ParseLogLine(line string) (time.Time, string, error) {
	ts, text, ok := strings.Cut(line, " ")
	if !ok {
		ts, text = line, ""
	}
	// Untimed lines (a partial line, or a device printing garbage) are common enough to be checked without
	// time.Parse, whose error quotes the text: one error per short line would cost far more than the line
	// (#15).
	if len(ts) < len("2006-01-02T15:04:05Z") || len(ts) > len(time.RFC3339Nano)+8 || ts[4] != '-' || ts[10] != 'T' {
		return time.Time{}, "", errNoLogTimestamp
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("docker log line: timestamp: %w", err)
	}
	return t, text, nil
}

var errNoLogTimestamp = errors.New("docker log line: no timestamp")

var upSecondsPattern = regexp.MustCompile(`^Up (Less than a second|About a second|\d+ seconds?)\b`)
