// Package storagefake installs stand-ins for smartctl, zpool and zfs that print recorded outputs, for tests of
// the drive and pool collection over real SSH sessions (#11): ZFS cannot run here and the virtual disks have no
// SMART. The scripts answer exactly the commands the product sends (internal/smart, internal/zfs) from files in
// a state directory the test writes, and keep state between calls: a scrub started with `zpool scrub` shows as
// in progress for a few status calls and then as finished.
package storagefake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Tools is an installed set of stand-ins.
type Tools struct {
	// Bin holds smartctl, zpool and zfs; put it first on the device's PATH.
	Bin string
	// State holds the outputs they print (see the Set methods) and their call log.
	State string
	t     testing.TB
}

// Install writes the stand-ins under dir (created) and returns them. Every file starts empty: no drives, no pools.
func Install(t testing.TB, dir string) *Tools {
	t.Helper()
	tt := &Tools{Bin: filepath.Join(dir, "bin"), State: filepath.Join(dir, "state"), t: t}
	for _, d := range []string{tt.Bin, tt.State} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"smartctl": smartctl, "zpool": zpool, "zfs": zfsScript} {
		script := "#!/bin/sh\nS=" + shq(tt.State) + "\necho \"" + name + " $*\" >>\"$S/calls\"\n" + body
		if err := os.WriteFile(filepath.Join(tt.Bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The session user must read and write the state.
	_ = os.Chmod(dir, 0o777)
	_ = os.Chmod(tt.State, 0o777)
	tt.Set("scan.json", `{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[]}`)
	return tt
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Set writes one state file (world-writable, since the device's login user updates some of them).
func (tt *Tools) Set(name, content string) {
	tt.t.Helper()
	p := filepath.Join(tt.State, name)
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		tt.t.Fatal(err)
	}
	_ = os.Chmod(p, 0o666)
}

// Remove deletes a state file.
func (tt *Tools) Remove(name string) { _ = os.Remove(filepath.Join(tt.State, name)) }

// Calls returns the commands the stand-ins ran, one per line.
func (tt *Tools) Calls() string {
	b, _ := os.ReadFile(filepath.Join(tt.State, "calls"))
	return string(b)
}

// SetDrive sets what `smartctl -j -a -n standby ... DEV` prints for the device path and its exit status.
func (tt *Tools) SetDrive(dev, json string, exit int) {
	n := strings.ReplaceAll(strings.TrimPrefix(dev, "/dev/"), "/", "_")
	tt.Set("drive-"+n+".json", json)
	tt.Set("drive-"+n+".rc", itoa(exit))
}

// SetPools sets the `zpool status -p` text before a scrub (status.txt), while a scrub runs (scrubbing.txt) and
// after it (scrubbed.txt), and the `zpool list -Hp` rows. A status file may begin with a recorded
// "TEST_TIMESTAMP=" header line; it is dropped.
func (tt *Tools) SetPools(status, scrubbing, scrubbed, list string) {
	tt.Set("status.txt", dropHeader(status))
	tt.Set("scrubbing.txt", dropHeader(scrubbing))
	tt.Set("scrubbed.txt", dropHeader(scrubbed))
	tt.Set("list.txt", list)
}

func dropHeader(s string) string {
	if strings.HasPrefix(s, "TEST_TIMESTAMP=") {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			return s[i+1:]
		}
	}
	return s
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// ScrubStatusCalls is how many `zpool status` calls show a started scrub as in progress before it finishes.
const ScrubStatusCalls = 2

const smartctl = `[ "$1" = -n ] && shift # "sudo -n" is not part of the call; accept it anyway
case "$*" in
"--scan-open --json") cat "$S/scan.json"; exit 0 ;;
esac
dev=
for a in "$@"; do dev=$a; done
n=$(printf '%s' "${dev#/dev/}" | tr / _)
case $1 in
-j)
	if [ -f "$S/selftest-$n" ] && [ -f "$S/drive-$n.testing.json" ]; then
		# A self-test runs for SelfTestReads readings, then completes.
		read -r kind count <"$S/selftest-$n"
		if [ "$count" -ge 2 ]; then
			rm -f "$S/selftest-$n"
			cp "$S/drive-$n.tested.json" "$S/drive-$n.json"
		else
			echo "$kind $((count + 1))" >"$S/selftest-$n"
			cat "$S/drive-$n.testing.json"
			exit "$(cat "$S/drive-$n.rc" 2>/dev/null || echo 0)"
		fi
	fi
	[ -f "$S/drive-$n.json" ] || { echo '{"smartctl":{"exit_status":2,"messages":[{"string":"Smartctl open device: '"$dev"' failed: No such device","severity":"error"}]}}'; exit 2; }
	cat "$S/drive-$n.json"
	exit "$(cat "$S/drive-$n.rc" 2>/dev/null || echo 0)"
	;;
-t)
	if [ -f "$S/selftest-$n" ]; then echo "Can't start self-test without aborting current test"; exit 4; fi
	echo "$2 0" >"$S/selftest-$n"
	echo "Testing has begun."
	exit 0
	;;
-X)
	rm -f "$S/selftest-$n"
	echo "Self-testing aborted!"
	exit 0
	;;
esac
echo "smartctl: unknown arguments: $*" >&2
exit 1
`

const zpool = `case "$1 $2" in
"status -j") echo "invalid option 'j'" >&2; echo "usage: zpool status ..." >&2; exit 2 ;;
"status -p")
	if [ -f "$S/scrub" ]; then
		n=$(cat "$S/scrub")
		if [ "$n" -ge ` + "2" + ` ]; then rm -f "$S/scrub"; cp "$S/scrubbed.txt" "$S/status.txt"; cat "$S/status.txt"; exit 0; fi
		echo $((n + 1)) >"$S/scrub"
		cat "$S/scrubbing.txt"
		exit 0
	fi
	if [ -s "$S/status.txt" ]; then cat "$S/status.txt"; else echo "no pools available"; fi
	exit 0
	;;
"list -Hp") cat "$S/list.txt" 2>/dev/null; exit 0 ;;
"scrub -s")
	[ -f "$S/scrub" ] || { echo "cannot cancel scrubbing $3: there is no active scrub" >&2; exit 1; }
	rm -f "$S/scrub"
	exit 0
	;;
"scrub "*)
	[ -f "$S/scrub" ] && { echo "cannot scrub $2: currently scrubbing; use 'zpool scrub -s' to cancel the current scrub" >&2; exit 1; }
	echo 0 >"$S/scrub"
	exit 0
	;;
esac
echo "zpool: unknown arguments: $*" >&2
exit 2
`

const zfsScript = `case "$*" in
"list -Hp -o "*" -t filesystem,volume") cat "$S/datasets.txt" 2>/dev/null; exit 0 ;;
"list -Hp -t snapshot -o "*) cat "$S/snapshots.txt" 2>/dev/null; exit 0 ;;
esac
echo "zfs: unknown arguments: $*" >&2
exit 2
`

// WithATARaw returns recorded smartctl JSON with the raw value of ATA attribute id set to value: a recorded
// drive turned into one with, say, pending sectors, everything else as recorded.
func WithATARaw(t testing.TB, recorded string, id int, value uint64) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(recorded), &doc); err != nil {
		t.Fatal(err)
	}
	attrs, _ := doc["ata_smart_attributes"].(map[string]any)
	table, _ := attrs["table"].([]any)
	found := false
	for _, a := range table {
		m, _ := a.(map[string]any)
		if n, _ := m["id"].(float64); int(n) == id {
			raw, _ := m["raw"].(map[string]any)
			raw["value"] = value
			raw["string"] = strconv.FormatUint(value, 10)
			found = true
		}
	}
	if !found {
		t.Fatalf("attribute %d not in the recorded output", id)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SetSelfTest prepares what the drive at dev prints while a self-test runs (for the first readings after
// `smartctl -t`) and once it has completed (passed or not), from its recorded output: the ATA self-test execution
// status (ata_smart_data.self_test.status) is set to "completed without error" before the test, to "in progress,
// 90% remaining" while it runs and then to the outcome.
func (tt *Tools) SetSelfTest(dev, recorded string, passed bool) {
	tt.t.Helper()
	n := strings.ReplaceAll(strings.TrimPrefix(dev, "/dev/"), "/", "_")
	status := func(value int, text string, remaining *int, pass *bool) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(recorded), &doc); err != nil {
			tt.t.Fatal(err)
		}
		data, _ := doc["ata_smart_data"].(map[string]any)
		if data == nil {
			data = map[string]any{}
			doc["ata_smart_data"] = data
		}
		st := map[string]any{"value": value, "string": text}
		if remaining != nil {
			st["remaining_percent"] = *remaining
		}
		if pass != nil {
			st["passed"] = *pass
		}
		data["self_test"] = map[string]any{"status": st}
		b, err := json.Marshal(doc)
		if err != nil {
			tt.t.Fatal(err)
		}
		return string(b)
	}
	ninety := 90
	yes := true
	// Before: no test running (some recorded outputs were taken mid-test), the last one passed.
	tt.Set("drive-"+n+".json", status(0, "completed without error", nil, &yes))
	tt.Set("drive-"+n+".testing.json", status(249, "in progress, 90% remaining", &ninety, nil))
	if passed {
		tt.Set("drive-"+n+".tested.json", status(0, "completed without error", nil, &passed))
	} else {
		tt.Set("drive-"+n+".tested.json", status(121, "completed: read failure", nil, &passed))
	}
}
