package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeSystemctl stands in for systemctl on a test device. systemd is not PID 1 on the build machines, so there
// are no live units to act on: this script keeps each unit's state in a file under its state directory and answers
// the commands Infrastructor sends (list-units --failed --output=json, show -p ..., start, stop, restart, reload)
// in systemctl's formats. A unit named broken.service fails to start; a restart takes 2 s, so a second request
// overlaps it; every other name without a state file is not-found. Each action is appended to calls.log.
const fakeSystemctl = `#!/bin/sh
STATE=@STATE@
stamp() { date -u '+%a %Y-%m-%d %H:%M:%S.%6N UTC'; }
load() { # unit -> active sub since restarts pid
	active=; sub=; since=; restarts=0; pid=0
	[ -f "$STATE/$1" ] || return 1
	. "$STATE/$1"
}
save() {
	printf "active=%s\nsub=%s\nsince='%s'\nrestarts=%s\npid=%s\n" "$active" "$sub" "$since" "$restarts" "$pid" >"$STATE/$1.tmp"
	mv "$STATE/$1.tmp" "$STATE/$1"
}
verb=$1
shift
case $verb in
list-units)
	sep=
	printf '['
	for f in "$STATE"/*.service; do
		u=${f##*/}
		load "$u" || continue
		[ "$active" = failed ] || continue
		printf '%s{"unit":"%s","load":"loaded","active":"failed","sub":"%s","description":"Test unit %s"}' "$sep" "$u" "$sub" "$u"
		sep=,
	done
	printf ']\n'
	;;
show)
	while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
	shift
	first=1
	for u in "$@"; do
		[ $first = 1 ] || echo
		first=0
		if load "$u"; then
			echo "Id=$u"
			echo "Description=Test unit $u"
			echo "LoadState=loaded"
			echo "ActiveState=$active"
			echo "SubState=$sub"
			echo "ActiveEnterTimestamp=$since"
			echo "NRestarts=$restarts"
			echo "MainPID=$pid"
			echo "MemoryCurrent=$((pid * 4096))"
		else
			printf 'Id=%s\nDescription=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nActiveEnterTimestamp=\nNRestarts=0\nMainPID=0\nMemoryCurrent=[not set]\n' "$u" "$u"
		fi
	done
	;;
start | stop | restart | reload)
	[ "$1" = --no-ask-password ] && [ "$2" = -- ] || { echo "fake systemctl: unexpected arguments $*" >&2; exit 2; }
	u=$3
	echo "$verb $u" >>"$STATE/calls.log"
	load "$u" || { echo "Failed to $verb $u: Unit $u not found." >&2; exit 5; }
	case $verb.$u in
	start.broken.service | restart.broken.service)
		active=failed sub=failed pid=0
		save "$u"
		echo "Job for $u failed because the control process exited with error code." >&2
		exit 1
		;;
	stop.*) active=inactive sub=dead pid=0 ;;
	reload.*) ;;
	restart.*)
		sleep 2
		active=active sub=running since=$(stamp) pid=$$
		;;
	*) active=active sub=running since=$(stamp) pid=$$ ;;
	esac
	save "$u"
	;;
*)
	echo "fake systemctl: unknown command $verb" >&2
	exit 2
	;;
esac
`

// FakeUnit is a unit the fake systemctl knows: Active is systemd's active state (active, inactive or failed).
type FakeUnit struct {
	Name     string
	Active   string
	Restarts int
}

// FakeSystemd is a stand-in systemctl (and sudo) for a test device: put Bin first on the device's PATH and
// create /run/systemd/system (systemd's "booted" mark, which the product checks before trusting systemctl) in the
// device's mount namespace. State holds each unit's state and calls.log.
type FakeSystemd struct {
	Bin   string
	State string
}

// NewFakeSystemd writes the fake systemctl and sudo with the given units; an active unit has been running for an
// hour. Its files are removed when the test ends.
func NewFakeSystemd(t testing.TB, units ...FakeUnit) *FakeSystemd {
	t.Helper()
	// Not t.TempDir: the device's login user, who may not be root, must reach it.
	dir, err := os.MkdirTemp("", "fake-systemd-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := &FakeSystemd{Bin: filepath.Join(dir, "bin"), State: filepath.Join(dir, "state")}
	require.NoError(t, os.MkdirAll(f.Bin, 0o755))
	require.NoError(t, os.MkdirAll(f.State, 0o777))
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chmod(f.State, 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(f.Bin, "systemctl"),
		[]byte(strings.Replace(fakeSystemctl, "@STATE@", f.State, 1)), 0o755))
	// A stand-in for sudo (the test user has no sudo rights here): it notes the call and runs the command, so a
	// device with use_sudo shows its actions went through `sudo -n`.
	fakeSudo := "#!/bin/sh\n[ \"$1\" = -n ] || exit 1\nshift\necho \"sudo_$2\" >>" + f.State + "/calls.log\nexec \"$@\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(f.Bin, "sudo"), []byte(fakeSudo), 0o755))
	since := time.Now().UTC().Add(-time.Hour).Format("Mon 2006-01-02 15:04:05.000000 UTC")
	for _, u := range units {
		var s string
		switch u.Active {
		case "active":
			s = "active=active\nsub=running\nsince='" + since + "'\npid=4242\n"
		case "failed":
			s = "active=failed\nsub=failed\nsince=\npid=0\n"
		default:
			s = "active=inactive\nsub=dead\nsince=\npid=0\n"
		}
		s += "restarts=" + strconv.Itoa(u.Restarts) + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(f.State, u.Name), []byte(s), 0o666))
	}
	return f
}

// Calls returns the actions the fake systemctl (and sudo) were asked for, in order: "restart web.service",
// "sudo_restart".
func (f *FakeSystemd) Calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.State, "calls.log"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
