package docker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
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

// Port is one exposed container port and, when published, its host binding.
type Port struct {
	// HostIP and HostPort are empty/0 for a port that is exposed but not published.
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port,omitempty"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
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
	var cs []Container
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
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
	c := Container{
		ID:      p.ID,
		Name:    firstName(p.Names),
		Image:   p.Image,
		Command: strings.Trim(p.Command, `"`),
		Status:  p.Status,
		State:   State(p.State),
		Health:  healthFromStatus(p.Status),
	}
	if c.State == "" {
		// docker before 1.13 had no State column; the status text carries it.
		c.State = stateFromStatus(p.Status)
	}
	if m := exitedPattern.FindStringSubmatch(p.Status); m != nil {
		c.ExitCode, _ = strconv.Atoi(m[1])
	}
	if p.CreatedAt != "" {
		t, err := time.Parse("2006-01-02 15:04:05 -0700 MST", p.CreatedAt)
		if err != nil {
			return Container{}, fmt.Errorf("container %s: CreatedAt: %w", p.ID, err)
		}
		c.Created = t.UTC()
	}
	ports, err := parsePSPorts(p.Ports)
	if err != nil {
		return Container{}, fmt.Errorf("container %s: Ports: %w", p.ID, err)
	}
	c.Ports = ports
	for _, m := range splitList(p.Mounts) {
		if strings.HasPrefix(m, "/") {
			c.Mounts = append(c.Mounts, Mount{Source: m})
		} else {
			c.Mounts = append(c.Mounts, Mount{Name: m})
		}
	}
	for _, n := range splitList(p.Networks) {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		c.Networks[n] = ""
	}
	c.Labels = parsePSLabels(p.Labels)
	c.fillCompose()
	return c, nil
}

// firstName returns the container's own name: docker ps lists legacy link aliases ("other/alias") after it.
func firstName(names string) string {
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimPrefix(strings.TrimSpace(n), "/"); n != "" && !strings.Contains(n, "/") {
			return n
		}
	}
	return strings.TrimPrefix(names, "/")
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// parsePSLabels splits docker ps's "k=v,k2=v2" label text. The format does not escape commas inside values, so
// a piece without "=" is taken as the continuation of the previous value; use ParseInspect where exact labels
// matter.
func parsePSLabels(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	last := ""
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok && last != "" {
			m[last] += "," + part
			continue
		}
		m[k] = v
		last = k
	}
	return m
}

var (
	exitedPattern = regexp.MustCompile(`^Exited \((-?\d+)\)`)
	// portPattern is one entry of docker ps's Ports column: [hostip:hostport[-end]->]port[-end]/proto.
	portPattern = regexp.MustCompile(`^(?:(.*):(\d+)(?:-(\d+))?->)?(\d+)(?:-(\d+))?/([a-z]+)$`)
)

// maxPortRange bounds how many ports one "a-b" range may expand to.
const maxPortRange = 65536

func parsePSPorts(s string) ([]Port, error) {
	var ports []Port
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		m := portPattern.FindStringSubmatch(e)
		if m == nil {
			return nil, fmt.Errorf("unrecognised port %q", e)
		}
		cFrom, _ := strconv.Atoi(m[4])
		cTo := cFrom
		if m[5] != "" {
			cTo, _ = strconv.Atoi(m[5])
		}
		if cTo < cFrom || cTo-cFrom >= maxPortRange || cTo > 65535 {
			return nil, fmt.Errorf("bad port range %q", e)
		}
		hostIP := strings.TrimSuffix(strings.TrimPrefix(m[1], "["), "]")
		hFrom := 0
		if m[2] != "" {
			hFrom, _ = strconv.Atoi(m[2])
		}
		for i := 0; i <= cTo-cFrom; i++ {
			p := Port{HostIP: hostIP, ContainerPort: cFrom + i, Protocol: m[6]}
			if hFrom != 0 {
				p.HostPort = hFrom + i
			}
			ports = append(ports, p)
		}
	}
	return ports, nil
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
	c := Container{
		ID:           r.ID,
		Name:         strings.TrimPrefix(r.Name, "/"),
		Image:        r.Config.Image,
		ImageID:      r.Image,
		Command:      strings.TrimSpace(strings.Join(append([]string{r.Path}, r.Args...), " ")),
		State:        State(r.State.Status),
		Health:       HealthNone,
		ExitCode:     r.State.ExitCode,
		RestartCount: r.RestartCount,
		PID:          r.State.Pid,
		Labels:       r.Config.Labels,
	}
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	if r.State.Health != nil && r.State.Health.Status != "" {
		c.Health = Health(r.State.Health.Status)
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
	for spec, bindings := range r.NetworkSettings.Ports {
		num, proto, _ := strings.Cut(spec, "/")
		cp, err := strconv.Atoi(num)
		if err != nil {
			return c, fmt.Errorf("port %q: %w", spec, err)
		}
		if proto == "" {
			proto = "tcp"
		}
		if len(bindings) == 0 {
			c.Ports = append(c.Ports, Port{ContainerPort: cp, Protocol: proto})
		}
		for _, b := range bindings {
			hp, _ := strconv.Atoi(b.HostPort)
			c.Ports = append(c.Ports, Port{HostIP: b.HostIP, HostPort: hp, ContainerPort: cp, Protocol: proto})
		}
	}
	// Map order is random; sort so output (and golden files) are stable.
	sort.Slice(c.Ports, func(i, j int) bool {
		a, b := c.Ports[i], c.Ports[j]
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
	for _, m := range r.Mounts {
		c.Mounts = append(c.Mounts, Mount{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, ReadOnly: !m.RW})
	}
	for name, n := range r.NetworkSettings.Networks {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		c.Networks[name] = n.IPAddress
	}
	c.fillCompose()
	return c, nil
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
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("docker log line: timestamp: %w", err)
	}
	return t, text, nil
}

var upSecondsPattern = regexp.MustCompile(`^Up (Less than a second|About a second|\d+ seconds?)\b`)
