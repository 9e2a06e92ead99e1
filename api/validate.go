package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

var (
	reName       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	reHostLabel  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	reUser       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	reTag        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$`)
	reDeviceType = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// Poll interval bounds: shorter polls would load small devices, longer ones make offline detection useless.
const (
	MinPollInterval     = 5 * time.Second
	MaxPollInterval     = time.Hour
	DefaultPollInterval = 30 * time.Second
	maxTags             = 32
	maxDescription      = 1000
)

// decodeObject reads a JSON object body into fields by name; it answers 415 for a non-JSON body and 422 for
// JSON that is not an object.
func decodeObject(c *fiber.Ctx) (map[string]json.RawMessage, error) {
	if !isJSON(c) {
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, invalid(map[string]string{"body": "must be a JSON object"})
	}
	if dec.More() {
		return nil, invalid(map[string]string{"body": "must hold exactly one JSON object"})
	}
	return raw, nil
}

func isJSON(c *fiber.Ctx) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	return ct == fiber.MIMEApplicationJSON || strings.HasSuffix(ct, "+json")
}

// fieldDecoder decodes known fields of a JSON object one by one, collecting a message per bad field.
type fieldDecoder struct {
	raw    map[string]json.RawMessage
	errs   map[string]string
	seen   map[string]bool
	isNull map[string]bool
}

func newFieldDecoder(raw map[string]json.RawMessage) *fieldDecoder {
	return &fieldDecoder{raw: raw, errs: map[string]string{}, seen: map[string]bool{}, isNull: map[string]bool{}}
}

// get decodes field name into dst and reports whether the field was present and not null.
func (d *fieldDecoder) get(name string, dst any, typeName string) bool {
	d.seen[name] = true
	v, ok := d.raw[name]
	if !ok {
		return false
	}
	if string(bytes.TrimSpace(v)) == "null" {
		d.isNull[name] = true
		return false
	}
	if err := json.Unmarshal(v, dst); err != nil {
		d.errs[name] = "must be " + typeName
		return false
	}
	return true
}

func (d *fieldDecoder) fail(name, msg string) {
	if _, ok := d.errs[name]; !ok {
		d.errs[name] = msg
	}
}

// finish flags unknown fields and returns the 422 error if any field was bad.
func (d *fieldDecoder) finish() error {
	for k := range d.raw {
		if !d.seen[k] {
			d.errs[k] = "unknown field"
		}
	}
	if len(d.errs) > 0 {
		return invalid(d.errs)
	}
	return nil
}

func validateName(s string) string {
	if !reName.MatchString(s) {
		return "must be 1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
	}
	return ""
}

// validateHost accepts an IP address or a DNS name (RFC 1123).
func validateHost(s string) string {
	if s == "" {
		return "is required"
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return ""
	}
	if len(s) > 253 {
		return "must be at most 253 characters"
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !reHostLabel.MatchString(label) {
			return "must be an IP address or a DNS host name"
		}
	}
	return ""
}

func validateUser(s string) string {
	if !reUser.MatchString(s) {
		return "must be a login name: letters, digits, '_', '.' or '-', at most 32 characters"
	}
	return ""
}

func validatePort(p int) string {
	if p < 1 || p > 65535 {
		return "must be between 1 and 65535"
	}
	return ""
}

// validateJumpHost accepts [user@]host[:port], the form of OpenSSH's ProxyJump.
func validateJumpHost(s string) string {
	user, hostport, hasUser := strings.Cut(s, "@")
	if !hasUser {
		hostport, user = user, ""
	} else if msg := validateUser(user); msg != "" {
		return "user: " + msg
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	if msg := validateHost(host); msg != "" {
		return "must be [user@]host[:port]: host " + msg
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || validatePort(n) != "" {
			return "must be [user@]host[:port]: port must be between 1 and 65535"
		}
	}
	return ""
}

func validateTags(tags []string) ([]string, string) {
	if len(tags) > maxTags {
		return nil, fmt.Sprintf("must have at most %d tags", maxTags)
	}
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		if !reTag.MatchString(t) {
			return nil, fmt.Sprintf("tag %q must be 1-63 characters: letters, digits, '.', '_', ':', '/' or '-'", t)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, ""
}

// Bounds of a device's inventory_interval, the cadence of drives, pools, services, updates, VMs and networks.
const (
	MinInventoryInterval = time.Minute
	MaxInventoryInterval = 24 * time.Hour
)

func parsePollInterval(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, `must be a duration such as "30s" or "2m"`
	}
	if d < MinPollInterval || d > MaxPollInterval {
		return 0, fmt.Sprintf("must be between %s and %s", MinPollInterval, MaxPollInterval)
	}
	return d, ""
}

func validateDescription(s string) string {
	if utf8.RuneCountInString(s) > maxDescription {
		return fmt.Sprintf("must be at most %d characters", maxDescription)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
		return "must not contain control characters"
	}
	return ""
}

// pageParams reads limit (1-500, default 50) and an opaque cursor.
func pageParams(c *fiber.Ctx) (int, string, error) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return 0, "", invalid(map[string]string{"limit": "must be a number between 1 and 500"})
		}
		limit = n
	}
	return limit, c.Query("cursor"), nil
}

var errBadCursor = errors.New("bad cursor")
