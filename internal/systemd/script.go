package systemd

import (
	"fmt"
	"strings"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// MaxShowUnits bounds the units one ShowScript asks about.
const MaxShowUnits = 64

// MaxOutputBytes bounds what any script here prints; the parsers mark a result cut at this size as truncated.
const MaxOutputBytes = 1 << 20

// naMarker is the only line a script prints when the device has no systemctl.
const naMarker = "@@infra:systemctl:na@@"

// ShowProperties are the properties ShowScript asks for, in the order of its -p argument.
var ShowProperties = []string{
	"Id", "ActiveState", "SubState", "LoadState", "ActiveEnterTimestamp", "NRestarts", "MainPID",
	"MemoryCurrent", "Description",
}

// bootedDir exists only when systemd is the running init (sd_booted(3)); a device can have systemctl
// installed without running systemd (containers, Alpine with systemd packages), and then systemctl answers
// nothing useful.
const bootedDir = "/run/systemd/system"

// prelude runs before every script: a fixed locale and UTC, so timestamps parse the same on every device
// ("Thu 2026-12-03 10:00:00 UTC"), the sbin directories that non-login shells may lack, and the check that
// systemd runs at all.
const prelude = "export LC_ALL=C TZ=UTC\nPATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin\n" +
	"{ command -v systemctl >/dev/null 2>&1 && [ -d " + bootedDir + " ]; } || { echo '" + naMarker + "'; exit 0; }\n"

// FailedScript lists the failed units, as JSON where systemctl supports --output=json (systemd 251 and later)
// and as plain columns otherwise (see ParseFailed).
func FailedScript() string {
	args := "list-units --failed --all --no-legend --plain --full --no-pager"
	return prelude + "{ systemctl " + args + " --output=json 2>/dev/null || systemctl " + args + "; } | head -c " +
		fmt.Sprint(MaxOutputBytes) + "\n"
}

// ShowScript prints the ShowProperties of each unit as blocks of Key=Value lines separated by blank lines
// (see ParseShow). Units are validated (any kind) and given after "--".
func ShowScript(units ...string) (string, error) {
	if len(units) == 0 {
		return "", argErr("units", "", "no unit given")
	}
	if len(units) > MaxShowUnits {
		return "", argErr("units", fmt.Sprint(len(units)), fmt.Sprintf("more than %d units", MaxShowUnits))
	}
	for _, u := range units {
		if err := ValidUnit(u); err != nil {
			return "", err
		}
	}
	argv := append([]string{"systemctl", "show", "--no-pager", "-p", strings.Join(ShowProperties, ","), "--"}, units...)
	return prelude + docker.Join(argv...) + " | head -c " + fmt.Sprint(MaxOutputBytes) + "\n", nil
}

// Action is a state change systemctl can make to a unit.
type Action string

// The actions ActionScript accepts.
const (
	Start   Action = "start"
	Stop    Action = "stop"
	Restart Action = "restart"
	Reload  Action = "reload"
)

// ParseAction validates an action name.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Start, Stop, Restart, Reload:
		return a, nil
	}
	return "", argErr("action", s, "must be start, stop, restart or reload")
}

// ActionScript runs `systemctl <action> -- <unit>`, through `sudo -n` when sudo is set (never prompting: a
// device without passwordless sudo fails at once instead of hanging). The unit must be a plain or instance
// name; a template cannot be acted on. The script exits with systemctl's status; its stderr says why.
func ActionScript(action, unit string, sudo bool) (string, error) {
	a, err := ParseAction(action)
	if err != nil {
		return "", err
	}
	kind, err := CheckUnit("unit", unit)
	if err != nil {
		return "", err
	}
	if kind == Template {
		return "", argErr("unit", unit, "a template unit is no valid "+string(a)+" target; name an instance such as foo@bar.service")
	}
	argv := []string{"systemctl", string(a), "--no-ask-password", "--", unit}
	if sudo {
		argv = append([]string{"sudo", "-n"}, argv...)
	}
	return prelude + "exec " + docker.Join(argv...) + "\n", nil
}
