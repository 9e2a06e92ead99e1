package hub

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/journal"
)

// Kinds of device topics, the last part of device.<id>.<kind>.
var deviceKinds = map[string]bool{"metrics": true, "status": true, "containers": true, "storage": true}

// Topics that are not about one device.
var plainTopics = map[string]bool{"operations": true, "events": true}

// Wildcard stands for any device id or any device topic kind in a pattern.
const Wildcard = "*"

// Kinds of log topics (#12): a live tail of the device's journald (device.<id>.logs[?filters]) and of a
// container's output (device.<id>.containers.<ref>.logs). They name one device, never a wildcard, and a wildcard
// kind does not match them: every log topic starts a tail on the device and is a read of sensitive data, so a
// client asks for each one by name.
const (
	kindLogs          = "logs"
	kindContainerLogs = "containers.logs"
)

// Pattern is a validated subscription: a plain topic ("operations", "events"), device.<id|*>.<kind|*>, or a log
// topic. The zero value matches nothing.
type Pattern struct {
	plain  string
	device string // a canonical lower-case UUID or Wildcard; "" for plain topics
	kind   string // metrics, status, containers, Wildcard, or one of the log kinds
	ref    string // the container of a container log topic
	filter string // the canonical filters of a journald log topic (url-encoded, keys sorted)
}

// LogSource describes the tail behind a log topic.
type LogSource struct {
	DeviceID string
	// Container is the container's name or ID; empty for the device's journald.
	Container string
	// Query holds the journald filters (unit, priority, grep) of the topic.
	Query journal.Query
}

// LogSource reports the tail a log pattern stands for; ok is false for other patterns.
func (p Pattern) LogSource() (LogSource, bool) {
	switch p.kind {
	case kindContainerLogs:
		return LogSource{DeviceID: p.device, Container: p.ref}, true
	case kindLogs:
		v, _ := url.ParseQuery(p.filter)
		return LogSource{DeviceID: p.device, Query: journal.Query{Unit: v.Get("unit"), Priority: v.Get("priority"), Grep: v.Get("grep")}}, true
	}
	return LogSource{}, false
}

// parseLogPattern parses a log topic; ok is false when s is not shaped like one (so other checks report the error).
func parseLogPattern(s string) (Pattern, bool, error) {
	rest, found := strings.CutPrefix(s, "device.")
	if !found || len(rest) < 37 || rest[36] != '.' {
		return Pattern{}, false, nil
	}
	id, tail := rest[:36], rest[37:]
	var p Pattern
	switch {
	case tail == kindLogs || strings.HasPrefix(tail, kindLogs+"?"):
		p.kind = kindLogs
		if _, q, ok := strings.Cut(tail, "?"); ok {
			f, err := logFilter(q)
			if err != nil {
				return Pattern{}, true, fmt.Errorf("topic %q: %w", s, err)
			}
			p.filter = f
		}
	case strings.HasPrefix(tail, "containers.") && strings.HasSuffix(tail, "."+kindLogs) && len(tail) > len("containers..logs"):
		p.kind = kindContainerLogs
		p.ref = tail[len("containers.") : len(tail)-len(".logs")]
		if err := docker.ValidRef(p.ref); err != nil {
			return Pattern{}, true, fmt.Errorf("topic %q: the container must be a container name or ID", s)
		}
	default:
		return Pattern{}, false, nil
	}
	if id == Wildcard {
		return Pattern{}, true, fmt.Errorf("topic %q: a log topic names one device, not *", s)
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return Pattern{}, true, fmt.Errorf("topic %q: the device id must be a UUID", s)
	}
	p.device = u.String()
	return p, true, nil
}

// logFilter validates the query of a journald log topic (unit, priority, grep; the other search filters make no
// sense for a live tail) and returns its canonical form, so equal filters spell one topic.
func logFilter(q string) (string, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return "", fmt.Errorf("the filters are not a URL query: %w", err)
	}
	var jq journal.Query
	for k, vals := range v {
		if len(vals) != 1 {
			return "", fmt.Errorf("filter %s given %d times", k, len(vals))
		}
		switch k {
		case "unit":
			jq.Unit = vals[0]
		case "priority":
			jq.Priority = vals[0]
		case "grep":
			jq.Grep = vals[0]
		default:
			return "", fmt.Errorf("unknown filter %q; a log topic takes unit, priority and grep", k)
		}
	}
	f, err := jq.Normalize()
	if err != nil {
		return "", err
	}
	out := url.Values{}
	if f.Unit != "" {
		out.Set("unit", f.Unit)
	}
	if f.Priority >= 0 {
		out.Set("priority", strconv.Itoa(f.Priority))
	}
	if f.Grep != "" {
		out.Set("grep", f.Grep)
	}
	return out.Encode(), nil
}

// ParsePattern validates a subscription pattern and returns it in canonical form: device ids are lower-case
// UUIDs, so "device.ABC…" and "device.abc…" are one subscription.
func ParsePattern(s string) (Pattern, error) {
	if plainTopics[s] {
		return Pattern{plain: s}, nil
	}
	if p, ok, err := parseLogPattern(s); ok {
		return p, err
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != "device" {
		return Pattern{}, fmt.Errorf("topic %q: want device.<id>.<kind>, operations or events", s)
	}
	p := Pattern{device: parts[1], kind: parts[2]}
	if p.device != Wildcard {
		id, err := uuid.Parse(p.device)
		if err != nil || len(p.device) != 36 {
			return Pattern{}, fmt.Errorf("topic %q: the device id must be a UUID or *", s)
		}
		p.device = id.String()
	}
	if p.kind != Wildcard && !deviceKinds[p.kind] {
		return Pattern{}, fmt.Errorf("topic %q: the kind must be metrics, status, containers, storage or *", s)
	}
	return p, nil
}

// String returns the canonical form of the pattern.
func (p Pattern) String() string {
	if p.plain != "" {
		return p.plain
	}
	if p.device == "" {
		return ""
	}
	switch p.kind {
	case kindContainerLogs:
		return "device." + p.device + ".containers." + p.ref + ".logs"
	case kindLogs:
		if p.filter != "" {
			return "device." + p.device + ".logs?" + p.filter
		}
	}
	return "device." + p.device + "." + p.kind
}

// Match reports whether the published topic t falls under the pattern.
func (p Pattern) Match(t Topic) bool {
	if p.plain != "" || t.plain != "" {
		return p.plain != "" && p.plain == t.plain
	}
	if p.device == "" || t.device == "" {
		return false
	}
	if t.kind == kindLogs || t.kind == kindContainerLogs {
		return p == Pattern(t)
	}
	return (p.device == Wildcard || p.device == t.device) && (p.kind == Wildcard || p.kind == t.kind)
}

// Topic is a concrete topic of a published update, parsed once per update so matching it against every
// client's patterns is a few string comparisons.
type Topic struct {
	plain, device, kind, ref, filter string
}

// ParseTopic parses the topic of a published update. Unlike a pattern it has no wildcards.
func ParseTopic(s string) (Topic, error) {
	p, err := ParsePattern(s)
	if err != nil {
		return Topic{}, err
	}
	if p.device == Wildcard || p.kind == Wildcard {
		return Topic{}, fmt.Errorf("topic %q: a published topic has no wildcards", s)
	}
	return Topic(p), nil
}

// String returns the canonical form of the topic.
func (t Topic) String() string { return Pattern(t).String() }
