package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/infrastructor/infrastructor/api/service"
)

// decodeObject reads a JSON object body into fields by name; it answers 415 for a non-JSON body and 422 for
// JSON that is not an object.
func decodeObject(c *fiber.Ctx) (map[string]json.RawMessage, error) {
	if !isJSON(c) {
		return nil, service.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, service.Invalid(map[string]string{"body": "must be a JSON object"})
	}
	if dec.More() {
		return nil, service.Invalid(map[string]string{"body": "must hold exactly one JSON object"})
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
		return service.Invalid(d.errs)
	}
	return nil
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
		if !service.ReHostLabel.MatchString(label) {
			return "must be an IP address or a DNS host name"
		}
	}
	return ""
}

func validateUser(s string) string {
	if !service.ReUser.MatchString(s) {
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
	if d < service.MinPollInterval || d > service.MaxPollInterval {
		return 0, fmt.Sprintf("must be between %s and %s", service.MinPollInterval, service.MaxPollInterval)
	}
	return d, ""
}

func validateDescription(s string) string {
	if utf8.RuneCountInString(s) > service.MaxDescription {
		return fmt.Sprintf("must be at most %d characters", service.MaxDescription)
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
			return 0, "", service.Invalid(map[string]string{"limit": "must be a number between 1 and 500"})
		}
		limit = n
	}
	return limit, c.Query("cursor"), nil
}

var errBadCursor = errors.New("bad cursor")
