package hub

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Kinds of device topics, the last part of device.<id>.<kind>.
var deviceKinds = map[string]bool{"metrics": true, "status": true, "containers": true, "storage": true}

// Topics that are not about one device.
var plainTopics = map[string]bool{"operations": true, "events": true}

// Wildcard stands for any device id or any device topic kind in a pattern.
const Wildcard = "*"

// Pattern is a validated subscription: a plain topic ("operations", "events") or device.<id|*>.<kind|*>.
// The zero value matches nothing.
type Pattern struct {
	plain  string
	device string // a canonical lower-case UUID or Wildcard; "" for plain topics
	kind   string // metrics, status, containers or Wildcard
}

// ParsePattern validates a subscription pattern and returns it in canonical form: device ids are lower-case
// UUIDs, so "device.ABC…" and "device.abc…" are one subscription.
func ParsePattern(s string) (Pattern, error) {
	if plainTopics[s] {
		return Pattern{plain: s}, nil
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
	return (p.device == Wildcard || p.device == t.device) && (p.kind == Wildcard || p.kind == t.kind)
}

// Topic is a concrete topic of a published update, parsed once per update so matching it against every
// client's patterns is a few string comparisons.
type Topic struct {
	plain, device, kind string
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
