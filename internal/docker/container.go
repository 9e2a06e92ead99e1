package docker

import (
	"errors"
	"fmt"
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
	Networks map[string]string `json:"networks,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// NetworkContainer is the container whose network namespace this one joins (network_mode container:X), and
	// Links its legacy links as "target:alias"; both from docker inspect only, for service dependencies (#13).
	NetworkContainer  string   `json:"network_container,omitempty"`
	Links             []string `json:"links,omitempty"`
	ComposeProject    string   `json:"compose_project,omitempty"`
	ComposeService    string   `json:"compose_service,omitempty"`
	ComposeWorkingDir string   `json:"compose_working_dir,omitempty"`
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
