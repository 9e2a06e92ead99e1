package smart

import (
	"fmt"
	"regexp"
	"strings"
)

// The commands the product runs for drive health (#11). They are fixed words and validated arguments, so the
// device wrapper can check them word by word and the sudo rule deploy/device/setup-device.sh installs
// (--smartctl) matches them: that rule allows -j, -a, -n standby, -d TYPE and device paths, which is why the
// reading uses the short `-j -a -n standby` (--json, --all: info, health, attributes, error and self-test logs;
// --nocheck=standby) rather than the long options.

var (
	devicePathRE = regexp.MustCompile(`^/dev/[A-Za-z0-9_/-]{1,200}$`)
	deviceTypeRE = regexp.MustCompile(`^[a-z0-9_+,]{1,40}$`)
)

// ValidDevicePath reports whether p is a device path the commands accept: /dev/ and letters, digits, _ / -.
func ValidDevicePath(p string) error {
	if !devicePathRE.MatchString(p) || strings.Contains(p, "//") {
		return fmt.Errorf("device path %q: must be /dev/ followed by letters, digits, _, / or -", p)
	}
	return nil
}

// ValidDeviceType reports whether t is a smartctl -d type the commands accept ("" for none).
func ValidDeviceType(t string) error {
	if t != "" && !deviceTypeRE.MatchString(t) {
		return fmt.Errorf("device type %q: must be lower-case letters, digits, _, + or ,", t)
	}
	return nil
}

func prefix(sudo bool) string {
	if sudo {
		return "sudo -n smartctl"
	}
	return "smartctl"
}

// ScanCommand lists the drives: `smartctl --scan-open --json`, through `sudo -n` when sudo is set.
func ScanCommand(sudo bool) string { return prefix(sudo) + " --scan-open --json" }

// ReadCommand reads one drive without waking it from standby (see ParseDrive).
func ReadCommand(dev, typ string, sudo bool) (string, error) {
	if err := ValidDevicePath(dev); err != nil {
		return "", err
	}
	if err := ValidDeviceType(typ); err != nil {
		return "", err
	}
	return prefix(sudo) + " -j -a -n standby" + typeArg(typ) + " " + dev, nil
}

// Self-test kinds.
const (
	SelfTestShort = "short"
	SelfTestLong  = "long"
)

// SelfTestCommand starts a short or long self-test on a drive; the drive runs it in the background.
func SelfTestCommand(dev, typ, kind string, sudo bool) (string, error) {
	if kind != SelfTestShort && kind != SelfTestLong {
		return "", fmt.Errorf("self-test type %q: must be short or long", kind)
	}
	if err := ValidDevicePath(dev); err != nil {
		return "", err
	}
	if err := ValidDeviceType(typ); err != nil {
		return "", err
	}
	return prefix(sudo) + " -t " + kind + typeArg(typ) + " " + dev, nil
}

// AbortSelfTestCommand aborts a running self-test.
func AbortSelfTestCommand(dev, typ string, sudo bool) (string, error) {
	if err := ValidDevicePath(dev); err != nil {
		return "", err
	}
	if err := ValidDeviceType(typ); err != nil {
		return "", err
	}
	return prefix(sudo) + " -X" + typeArg(typ) + " " + dev, nil
}

func typeArg(typ string) string {
	if typ == "" {
		return ""
	}
	return " -d " + typ
}
