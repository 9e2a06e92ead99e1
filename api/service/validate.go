package service

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	reName       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	ReHostLabel  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	ReUser       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	reTag        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$`)
	ReDeviceType = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// Poll interval bounds: shorter polls would load small devices, longer ones make offline detection useless.
const (
	MinPollInterval     = 5 * time.Second
	MaxPollInterval     = time.Hour
	DefaultPollInterval = 30 * time.Second
	maxTags             = 32
	MaxDescription      = 1000
)

// ValidateName checks a device or schedule name and says what is wrong with it ("" when nothing is).
func ValidateName(s string) string {
	if !reName.MatchString(s) {
		return "must be 1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
	}
	return ""
}

// ValidateTags checks tags and drops repeats; the message says what is wrong ("" when nothing is).
func ValidateTags(tags []string) ([]string, string) {
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

// EnumText words the allowed values: "a, b or c", and "one of a, b, c, ..." for long lists.
func EnumText(values []string) string {
	switch n := len(values); {
	case n == 0:
		return "given"
	case n == 1:
		return values[0]
	case n > 7:
		return "one of " + strings.Join(values, ", ")
	default:
		return fmt.Sprintf("%s or %s", strings.Join(values[:n-1], ", "), values[n-1])
	}
}
