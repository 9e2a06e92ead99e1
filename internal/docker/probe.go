package docker

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Probe exit statuses chosen by the probe script, from sysexits.h so they cannot be confused with docker's own
// status 1.
const (
	probeExitAbsent     = 127 // the shell's "command not found"
	probeExitNoDaemon   = 69  // EX_UNAVAILABLE: the daemon's socket does not exist
	probeExitPermission = 77  // EX_NOPERM: the socket exists but this user may not use it
)

// probeScript tells the common failures apart before docker gets a chance to mix them into one message. The
// socket checks only apply to the default local socket (DOCKER_HOST unset or unix://, no DOCKER_CONTEXT);
// for anything else docker version's own answer is classified. "test -w" is true for root, which may use the
// socket anyway.
const probeScript = `command -v docker >/dev/null 2>&1 || exit 127
if [ -z "${DOCKER_CONTEXT:-}" ]; then
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
  unix://*)
    sock=${DOCKER_HOST:-unix:///var/run/docker.sock}; sock=${sock#unix://}
    [ -S "$sock" ] || { echo "docker socket $sock not found" >&2; exit 69; }
    { [ -r "$sock" ] && [ -w "$sock" ]; } || { echo "permission denied on docker socket $sock" >&2; exit 77; }
    ;;
  esac
fi
exec docker version --format '{{json .}}'`

// Probe returns a command that reports whether docker is usable on a device; classify its result with
// ClassifyProbe.
func Probe() string { return script(probeScript) }

// AvailabilityState is the outcome of a probe.
type AvailabilityState string

// Availability states.
const (
	// Available means the daemon answered; the versions are filled in.
	Available AvailabilityState = "available"
	// Absent means there is no docker client on the device.
	Absent AvailabilityState = "absent"
	// DaemonDown means the client exists but no daemon answers.
	DaemonDown AvailabilityState = "daemon_down"
	// PermissionDenied means the SSH user may not use the daemon's socket (not root, not in group docker).
	PermissionDenied AvailabilityState = "permission_denied"
	// Unknown is any other failure; Detail has docker's message.
	Unknown AvailabilityState = "unknown"
)

// Availability is what ClassifyProbe concluded.
type Availability struct {
	State AvailabilityState `json:"state"`
	// ClientVersion, ServerVersion and APIVersion come from docker version when the daemon answered (the
	// client version also when it did not).
	ClientVersion string `json:"client_version,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	APIVersion    string `json:"api_version,omitempty"`
	// Detail is the first line of the error output, for people.
	Detail string `json:"detail,omitempty"`
}

// versionJSON is the part of `docker version --format '{{json .}}'` we read.
type versionJSON struct {
	Client *struct {
		Version    string
		APIVersion string `json:"ApiVersion"`
	}
	Server *struct {
		Version    string
		APIVersion string `json:"ApiVersion"`
	}
}

// ClassifyProbe interprets the result of the Probe command. The exit statuses the script sets decide the clear
// cases; when docker itself failed, its error text is the only signal there is, so the well-known phrases the
// docker client prints are looked for (Cannot connect to the Docker daemon / permission denied).
func ClassifyProbe(stdout, stderr []byte, exit int) Availability {
	a := Availability{Detail: firstLine(stderr)}
	var v versionJSON
	if err := json.Unmarshal(bytes.TrimSpace(stdout), &v); err == nil {
		if v.Client != nil {
			a.ClientVersion = clipString(v.Client.Version, MaxFieldBytes)
		}
		if v.Server != nil {
			a.ServerVersion = clipString(v.Server.Version, MaxFieldBytes)
			a.APIVersion = clipString(v.Server.APIVersion, MaxFieldBytes)
		}
	}
	switch exit {
	case probeExitAbsent:
		a.State = Absent
		return a
	case probeExitNoDaemon:
		a.State = DaemonDown
		return a
	case probeExitPermission:
		a.State = PermissionDenied
		return a
	case 0:
		if a.ServerVersion != "" {
			a.State = Available
			return a
		}
	}
	msg := strings.ToLower(string(stderr[:min(len(stderr), 64<<10)]))
	switch {
	case strings.Contains(msg, "permission denied"):
		a.State = PermissionDenied
	case strings.Contains(msg, "cannot connect to the docker daemon"), strings.Contains(msg, "is the docker daemon running"),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such file or directory"):
		a.State = DaemonDown
	default:
		a.State = Unknown
	}
	return a
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = clipString(s, 300)
	return s
}
