package systemd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
)

func TestCheckUnit(t *testing.T) {
	for name, kind := range map[string]UnitKind{
		"nginx.service": Plain, "-.mount": Plain, "dev-disk-by\\x2dlabel-data.device": Plain, "foo@.service": Template,
		"getty@tty1.service": Instance, "a@b@c.service": Instance, "systemd-fsck@dev-sda1.service": Instance,
		"user-1000.slice": Plain, "session-3.scope": Plain, "a:b_c.socket": Plain, "x.y.timer": Plain,
		strings.Repeat("a", MaxUnitName-9) + ".service": Plain,
	} {
		got, err := CheckUnit("unit", name)
		require.NoError(t, err, name)
		require.Equal(t, kind, got, name)
	}
	for _, bad := range []string{"", "nginx", ".service", "@foo.service", "foo.bar", "a b.service", "a;id.service",
		"$(id).service", "a/b.service", "a\nb.service", "é.service", "foo.service\x00", "foo.Service",
		strings.Repeat("a", MaxUnitName-8) + ".service"} {
		_, err := CheckUnit("unit", bad)
		var ae *ArgError
		require.ErrorAs(t, err, &ae, "%q", bad)
		require.Equal(t, "unit", ae.Arg)
		require.True(t, errors.Is(err, ErrInvalidArgument))
	}
	u, err := NormalizeUnit("unit", "nginx")
	require.NoError(t, err)
	require.Equal(t, "nginx.service", u)
	u, err = NormalizeUnit("unit", "docker.socket")
	require.NoError(t, err)
	require.Equal(t, "docker.socket", u)
}

func TestParseFailedGolden(t *testing.T) {
	for _, name := range []string{"list-units-failed-plain.txt", "list-units-failed-bullet.txt", "list-units-failed.json"} {
		res, err := ParseFailed(golden.Read(t, filepath.Join("testdata", name)))
		require.NoError(t, err, name)
		golden.JSON(t, strings.TrimSuffix(strings.TrimSuffix(name, ".txt"), ".json"), res)
	}
	_, err := ParseFailed(golden.Read(t, filepath.Join("testdata", "show-na.txt")))
	require.ErrorIs(t, err, ErrNotAvailable)
	res, err := ParseFailed(nil)
	require.NoError(t, err)
	require.Empty(t, res.Units)
}

func TestParseShowGolden(t *testing.T) {
	res, err := ParseShow(golden.Read(t, filepath.Join("testdata", "show-multi.txt")))
	require.NoError(t, err)
	golden.JSON(t, "show-multi", res)
	require.Len(t, res.Units, 4)
	require.Nil(t, res.Units[2].MemoryBytes, "UINT64_MAX means not accounted")
	require.Nil(t, res.Units[1].MemoryBytes, "[not set]")
	require.Nil(t, res.Units[3].ActiveSince, "CET is ambiguous: no guessed time")
	require.Equal(t, time.Date(2026, 12, 2, 3, 0, 0, 123456000, time.UTC), *res.Units[2].ActiveSince)
	_, err = ParseShow(golden.Read(t, filepath.Join("testdata", "show-na.txt")))
	require.ErrorIs(t, err, ErrNotAvailable)
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]time.Time{
		"Thu 2026-12-03 10:00:00 UTC":   time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"2026-12-03 10:00:00 GMT":       time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"Thu 2026-12-03 10:00:00.5 UTC": time.Date(2026, 12, 3, 10, 0, 0, 500000000, time.UTC),
		"Thu 2026-12-03 11:00:00 +0100": time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
	} {
		got, ok := ParseTimestamp(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "n/a", "[not set]", "Thu 2026-12-03 10:00:00 CET", "Thu 2026-13-03 10:00:00 UTC", "@", "@-5", "@x"} {
		_, ok := ParseTimestamp(in)
		require.False(t, ok, in)
	}
}

func TestJudge(t *testing.T) {
	show, err := ParseShow(golden.Read(t, filepath.Join("testdata", "show-multi.txt")))
	require.NoError(t, err)
	failed, err := ParseFailed(golden.Read(t, filepath.Join("testdata", "list-units-failed-plain.txt")))
	require.NoError(t, err)
	v := Judge(failed.Units, []string{"nginx.service", "typo.service", "backup@daily.service", "absent.service", "nginx.service"}, show.Units)
	golden.JSON(t, "verdicts", v)
	require.Equal(t, Critical, v[0].Level)
	levels := map[string]Level{}
	for _, x := range v {
		levels[x.Unit] = x.Level
	}
	require.Equal(t, OK, levels["nginx.service"], "watched and active, though list-units (older) said failed")
	require.Equal(t, Critical, levels["typo.service"])
	require.Equal(t, Critical, levels["absent.service"])
	require.Equal(t, Critical, levels["backup@daily.service"])
	require.Equal(t, Warning, levels["smbd.service"])
}

// fakeBin writes a systemctl and a sudo that print their arguments, one per line.
func fakeBin(t testing.TB) string {
	bin := t.TempDir()
	for _, name := range []string{"systemctl", "sudo"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\necho "+name+"\nfor a; do printf '<%s>\\n' \"$a\"; done\n"), 0o755))
	}
	return bin
}

// runSh runs script under dash as a device with systemd would: the booted check looks at a directory that
// exists (this machine does not run systemd).
func runSh(t testing.TB, script string, path string) string {
	t.Helper()
	script = strings.ReplaceAll(script, bootedDir, os.TempDir())
	cmd := exec.Command("dash", "-s")
	if _, err := exec.LookPath("dash"); err != nil {
		cmd = exec.Command("sh", "-s")
	}
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = []string{"PATH=" + path}
	out, err := cmd.Output()
	require.NoError(t, err)
	return string(out)
}

func TestScripts(t *testing.T) {
	bin := fakeBin(t)
	s, err := ShowScript("nginx.service", "-.mount")
	require.NoError(t, err)
	require.Equal(t, "systemctl\n<show>\n<--no-pager>\n<-p>\n<Id,ActiveState,SubState,LoadState,ActiveEnterTimestamp,NRestarts,MainPID,MemoryCurrent,Description>\n<-->\n<nginx.service>\n<-.mount>\n",
		runSh(t, s, bin+":/usr/bin:/bin"))

	s, err = ActionScript("restart", "getty@tty1.service", true)
	require.NoError(t, err)
	require.Equal(t, "sudo\n<-n>\n<systemctl>\n<restart>\n<--no-ask-password>\n<-->\n<getty@tty1.service>\n", runSh(t, s, bin+":/usr/bin:/bin"))
	s, err = ActionScript("stop", "x\\x2dy.service", false)
	require.NoError(t, err)
	require.Equal(t, "systemctl\n<stop>\n<--no-ask-password>\n<-->\n<x\\x2dy.service>\n", runSh(t, s, bin+":/usr/bin:/bin"))

	require.Contains(t, runSh(t, FailedScript(), bin+":/usr/bin:/bin"), "<--output=json>")

	// no systemctl on the device (the script adds /usr/bin, where this machine has one: hide it by name)
	empty := t.TempDir()
	require.Equal(t, naMarker+"\n", runSh(t, strings.ReplaceAll(FailedScript(), "command -v systemctl", "command -v no-such-systemctl"), empty))
	// systemctl installed but systemd not running (like this machine): not available either
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(FailedScript(), bootedDir, filepath.Join(empty, "absent")))
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, naMarker+"\n", string(out))

	for _, c := range []struct {
		action, unit, field string
	}{{"enable", "nginx.service", "action"}, {"start", "foo@.service", "unit"}, {"start", "nginx", "unit"}, {"reload", "a;b.service", "unit"}} {
		_, err := ActionScript(c.action, c.unit, false)
		var ae *ArgError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, c.field, ae.Arg)
	}
	_, err = ShowScript()
	require.Error(t, err)
	many := make([]string, MaxShowUnits+1)
	for i := range many {
		many[i] = "a.service"
	}
	_, err = ShowScript(many...)
	require.Error(t, err)
}

func TestFailedScriptFallsBackToPlain(t *testing.T) {
	// a systemctl older than 251 rejects --output=json
	bin := t.TempDir()
	fake := "#!/bin/sh\nfor a; do [ \"$a\" = --output=json ] && { echo 'unknown option' >&2; exit 1; }; done\n" +
		"echo 'nginx.service loaded failed failed nginx'\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755))
	res, err := ParseFailed([]byte(runSh(t, FailedScript(), bin+":/usr/bin:/bin")))
	require.NoError(t, err)
	require.Equal(t, []FailedUnit{{Unit: "nginx.service", Load: "loaded", Active: "failed", Sub: "failed", Description: "nginx"}}, res.Units)
}

const (
	allocPerInputByte = 64
	allocFixed        = 1 << 20
)

func checkText(t testing.TB, s string) {
	require.LessOrEqual(t, len(s), MaxFieldBytes)
	require.True(t, utf8.ValidString(s))
	for _, r := range s {
		require.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0), "%U in %q", r, s)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"list-units-failed-plain.txt", "list-units-failed-bullet.txt", "list-units-failed.json", "show-multi.txt", "show-na.txt"} {
		f.Add(golden.Read(f, filepath.Join("testdata", n)))
	}
	f.Add([]byte(strings.Repeat("Id=a.service\n\n", 2000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl FailedList
		var sh ShowResult
		alloc := malformed.Allocated(func() {
			fl, _ = ParseFailed(b)
			sh, _ = ParseShow(b)
		})
		require.LessOrEqual(t, alloc, malformed.Bound(len(b), allocPerInputByte, allocFixed))
		require.LessOrEqual(t, len(fl.Units), MaxUnits)
		require.LessOrEqual(t, len(sh.Units), MaxUnits)
		for _, u := range fl.Units {
			require.NoError(t, ValidUnit(u.Unit))
			for _, s := range []string{u.Load, u.Active, u.Sub, u.Description} {
				checkText(t, s)
			}
		}
		for _, u := range sh.Units {
			require.NoError(t, ValidUnit(u.Unit))
			for _, s := range []string{u.Description, u.LoadState, u.ActiveState, u.SubState} {
				checkText(t, s)
			}
		}
	})
}

// FuzzActionArgv: whatever the unit, a script is built only for a valid name and systemctl receives exactly it.
func FuzzActionArgv(f *testing.F) {
	for _, s := range []string{"nginx.service", "a;id.service", "$(id).service", "-.mount", "'.service", "a\\'b.service", "--all.service"} {
		f.Add(s)
	}
	bin := fakeBin(f)
	f.Fuzz(func(t *testing.T, unit string) {
		s, err := ActionScript("restart", unit, false)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidArgument)
			return
		}
		var want bytes.Buffer
		want.WriteString("systemctl\n<restart>\n<--no-ask-password>\n<-->\n<" + unit + ">\n")
		require.Equal(t, want.String(), runSh(t, s, bin+":/usr/bin:/bin"))
	})
}
