package virsh

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
)

var (
	record = flag.Bool("record", false, "rewrite testdata/recorded from the real virsh (libvirt test driver)")
)

func needVirsh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("virsh"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("virsh (libvirt-clients) is required in CI")
		}
		t.Skip("virsh not installed (apt-get install libvirt-clients)")
	}
}

func nodeURI(t *testing.T) string {
	abs, err := filepath.Abs(filepath.Join("testdata", "node.xml"))
	require.NoError(t, err)
	return "test://" + abs
}

// session runs cmds in ONE virsh process. The test driver keeps its state per connection, and a connection
// lives as long as the virsh process, so a sequence of actions and checks must share one invocation; virsh's
// own command language separates them with ";". Each command's output is returned separately (virsh's echo
// command prints a separator between them).
func session(t *testing.T, uri string, cmds ...[]string) [][]byte {
	t.Helper()
	const sep = "@@step"
	var script []string
	for _, c := range cmds {
		script = append(script, strings.Join(c, " "), "echo "+sep)
	}
	cmd := exec.Command("virsh", "-c", uri, strings.Join(script, " ; "))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	parts := bytes.Split(out, []byte(sep+"\n"))
	require.Len(t, parts, len(cmds)+1, "%s", out)
	return parts[:len(cmds)]
}

func writeRecorded(t *testing.T, name string, b []byte) {
	t.Helper()
	if !*record {
		return
	}
	require.NoError(t, os.MkdirAll(filepath.Join("testdata", "recorded"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "recorded", name), b, 0o644))
}

// TestRealInventory runs the unmodified InventoryScript with sh and the real virsh against the test driver.
func TestRealInventory(t *testing.T) {
	needVirsh(t)
	for name, uri := range map[string]string{"inventory-default.txt": "test:///default", "inventory-node.txt": nodeURI(t)} {
		s, err := InventoryScript(uri)
		require.NoError(t, err)
		cmd := exec.Command("sh", "-s")
		cmd.Stdin = strings.NewReader(s)
		out, err := cmd.Output()
		require.NoError(t, err)
		// The same script through the other POSIX shells a device may have as sh gives the same answer.
		for _, other := range [][]string{{"busybox", "sh", "-s"}, {"bash", "--posix", "-s"}} {
			if _, err := exec.LookPath(other[0]); err != nil {
				continue
			}
			c := exec.Command(other[0], other[1:]...)
			c.Stdin = strings.NewReader(s)
			o, err := c.Output()
			require.NoError(t, err, other[0])
			require.Equal(t, parseNoClock(t, out), parseNoClock(t, o), other[0])
		}
		inv, err := ParseInventory(out)
		require.NoError(t, err)
		require.True(t, inv.Available)
		require.Empty(t, inv.Error)
		require.NotEmpty(t, inv.Domains)
		for _, d := range inv.Domains {
			require.Empty(t, d.Error, d.Name)
			require.Equal(t, StateRunning, d.State, d.Name)
			require.NotEmpty(t, d.Disks, d.Name)
		}
		writeRecorded(t, name, out)
	}
}

// parseNoClock parses inventory output without the test driver's CPU time, which is the wall clock.
func parseNoClock(t *testing.T, out []byte) *Inventory {
	t.Helper()
	inv, err := ParseInventory(out)
	require.NoError(t, err)
	for i := range inv.Domains {
		inv.Domains[i].CPUTimeSec = 0
	}
	return inv
}

// TestRealTransitions drives one domain through every action with the real virsh and checks each state with
// ParseDomState and ParseInfo; the commands are built with Args, so the builders are exercised too.
func TestRealTransitions(t *testing.T) {
	needVirsh(t)
	args := func(a Action) []string {
		s, err := Args(a, "web01")
		require.NoError(t, err)
		return s
	}
	state := []string{"domstate", "--reason", "--domain", "web01"}
	info := []string{"dominfo", "--domain", "web01"}
	steps := []struct {
		cmd    []string
		state  State
		reason string
	}{
		{args(ActionSuspend), StatePaused, "user"},
		{args(ActionResume), StateRunning, "unpaused"},
		{args(ActionShutdown), StateShutOff, "shutdown"},
		{args(ActionStart), StateRunning, "booted"},
		{args(ActionReboot), StateRunning, "booted"},
		{args(ActionDestroy), StateShutOff, "destroyed"},
	}
	var cmds [][]string
	for _, s := range steps {
		cmds = append(cmds, s.cmd, state, info)
	}
	cmds = append(cmds, []string{"autostart", "--domain", "web01"}, []string{"list", "--all"}, info, []string{"domblklist", "--details", "--domain", "web01"}, []string{"domiflist", "--domain", "web01"})
	out := session(t, nodeURI(t), cmds...)
	for i, s := range steps {
		st, reason, err := ParseDomState(out[3*i+1])
		require.NoError(t, err, "after %v", s.cmd)
		require.Equal(t, s.state, st, "after %v", s.cmd)
		require.Equal(t, s.reason, reason, "after %v", s.cmd)
		in, err := ParseInfo(out[3*i+2])
		require.NoError(t, err)
		require.Equal(t, s.state, in.State)
		require.Equal(t, s.state.Active(), in.ID != 0)
	}
	n := 3 * len(steps)
	list, _, err := ParseList(out[n+1])
	require.NoError(t, err)
	require.Equal(t, []ListEntry{{ID: 2, Name: "db-server.lan", State: StateRunning}, {Name: "web01", State: StateShutOff}}, list)
	in, err := ParseInfo(out[n+2])
	require.NoError(t, err)
	require.True(t, in.Autostart)
	inv := &Inventory{Domains: []Domain{{Info: *in}}}
	require.Equal(t, []string{"web01"}, inv.AutostartNotRunning())

	writeRecorded(t, "list-all-mixed.txt", out[n+1])
	writeRecorded(t, "dominfo-shutoff-autostart.txt", out[n+2])
	writeRecorded(t, "domblklist-details.txt", out[n+3])
	writeRecorded(t, "domiflist.txt", out[n+4])
	writeRecorded(t, "domstate-paused.txt", out[1])
	writeRecorded(t, "dominfo-paused.txt", out[2])
}

// TestRealActionScript runs the script ActionScript builds with sh: a failing action (the test driver starts
// with the domain running, so start fails) exits non-zero, a valid one succeeds.
func TestRealActionScript(t *testing.T) {
	needVirsh(t)
	run := func(a Action) error {
		s, err := ActionScript(a, "test", "test:///default")
		require.NoError(t, err)
		cmd := exec.Command("sh", "-s")
		cmd.Stdin = strings.NewReader(s)
		return cmd.Run()
	}
	require.Error(t, run(ActionStart), "already running")
	require.NoError(t, run(ActionSuspend))
}

func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "recorded")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		name := strings.TrimSuffix(e.Name(), ".txt")
		var v any
		switch {
		case strings.HasPrefix(name, "inventory"):
			v, err = ParseInventory(b)
		case strings.HasPrefix(name, "list-all"):
			v, _, err = ParseList(b)
		case strings.HasPrefix(name, "dominfo"):
			v, err = ParseInfo(b)
		case strings.HasPrefix(name, "domblklist"):
			v, _, err = ParseBlkList(b)
		case strings.HasPrefix(name, "domiflist"):
			v, _, err = ParseIfList(b)
		case strings.HasPrefix(name, "domstate"):
			var st State
			var reason string
			st, reason, err = ParseDomState(b)
			v = []string{string(st), reason}
		default:
			t.Fatalf("no parser for %s", e.Name())
		}
		require.NoError(t, err, e.Name())
		golden.JSON(t, name, v)
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"web01", "db-server.lan", "a", "vm_1+x:y@z", "6695eb01-f6a4-8304-79aa-97f2502e193f"} {
		require.NoError(t, ValidDomain(ok), ok)
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "a;b", "a'b", "$(id)", "a/b", "a\nb", strings.Repeat("a", MaxNameLen+1)} {
		err := ValidDomain(bad)
		require.ErrorIs(t, err, ErrInvalidArgument, "%q", bad)
		require.ErrorContains(t, err, "domain")
	}
	for _, ok := range []string{"", "qemu:///system", "qemu:///session", "test:///default", "qemu+ssh://root@host.lan/system", "qemu+tcp://10.0.0.1:16509/system", "test:///tmp/node.xml", "lxc:///"} {
		require.NoError(t, ValidURI(ok), ok)
	}
	for _, bad := range []string{"qemu+ext:///system?command=/bin/sh", "qemu+ssh://h/system?keyfile=/x", "qemu:///system;id", "file:///etc/passwd", "-c", "qemu:///../../x", "qemu:// /system"} {
		err := ValidURI(bad)
		require.ErrorIs(t, err, ErrInvalidArgument, "%q", bad)
		require.ErrorContains(t, err, "uri")
	}
	_, err := Args("migrate", "web01")
	require.ErrorContains(t, err, "action")
	s, err := ActionScript(ActionShutdown, "db-server.lan", "qemu:///system")
	require.NoError(t, err)
	require.Equal(t, "LC_ALL=C virsh -c qemu:///system shutdown --domain db-server.lan\n", s)
	s, err = ActionScript(ActionStart, "web01", "")
	require.NoError(t, err)
	require.Equal(t, "LC_ALL=C virsh start --domain web01\n", s)
	_, err = InventoryScript("qemu+ext:///x")
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestInventoryEdge: virsh absent, the list failing (no daemon), a domain vanishing between list and dominfo.
func TestInventoryEdge(t *testing.T) {
	inv, err := ParseInventory([]byte("@@infra-virsh absent\n"))
	require.NoError(t, err)
	require.False(t, inv.Available)

	inv, err = ParseInventory([]byte("@@infra-virsh begin list\nerror: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n@@infra-virsh end list 1\n"))
	require.NoError(t, err)
	require.Equal(t, "error: failed to connect to the hypervisor", inv.Error)

	inv, err = ParseInventory([]byte("@@infra-virsh begin list\nx\n\n@@infra-virsh end list 0\n@@infra-virsh domain x\n@@infra-virsh begin dominfo\nerror: failed to get domain 'x'\n@@infra-virsh end dominfo 1\n"))
	require.NoError(t, err)
	require.Equal(t, "x", inv.Domains[0].Name)
	require.Equal(t, "error: failed to get domain 'x'", inv.Domains[0].Error)

	_, err = ParseInventory([]byte("bash: virsh: command not found\n"))
	require.ErrorIs(t, err, ErrNotVirsh)
}

func checkText(t testing.TB, ss ...string) {
	for _, s := range ss {
		require.LessOrEqual(t, len(s), MaxFieldBytes)
	}
}

func checkAll(t testing.TB, b []byte) {
	bound := malformed.Bound(len(b), 64, 1<<20)
	var inv *Inventory
	var err error
	if a := malformed.Allocated(func() { inv, err = ParseInventory(b) }); a > bound {
		t.Fatalf("ParseInventory allocated %d for %d bytes", a, len(b))
	}
	if err == nil {
		require.LessOrEqual(t, len(inv.Domains), MaxDomains)
		checkText(t, inv.Error)
		for _, d := range inv.Domains {
			checkText(t, d.Name, d.UUID, d.OSType, string(d.State), d.Error)
			require.LessOrEqual(t, len(d.Disks), MaxDevices)
			require.LessOrEqual(t, len(d.Interfaces), MaxDevices)
		}
	}
	var list []ListEntry
	if a := malformed.Allocated(func() { list, _, err = ParseList(b) }); a > bound {
		t.Fatalf("ParseList allocated %d for %d bytes", a, len(b))
	}
	require.LessOrEqual(t, len(list), MaxDomains)
	for _, e := range list {
		checkText(t, e.Name, string(e.State))
	}
	var disks []Disk
	if a := malformed.Allocated(func() { disks, _, _ = ParseBlkList(b) }); a > bound {
		t.Fatalf("ParseBlkList allocated %d for %d bytes", a, len(b))
	}
	require.LessOrEqual(t, len(disks), MaxDevices)
	var ifs []Interface
	if a := malformed.Allocated(func() { ifs, _, _ = ParseIfList(b) }); a > bound {
		t.Fatalf("ParseIfList allocated %d for %d bytes", a, len(b))
	}
	require.LessOrEqual(t, len(ifs), MaxDevices)
	for _, i := range ifs {
		checkText(t, i.Name, i.Type, i.Source, i.Model, i.MAC)
	}
	var in *Info
	if a := malformed.Allocated(func() { in, err = ParseInfo(b) }); a > bound {
		t.Fatalf("ParseInfo allocated %d for %d bytes", a, len(b))
	}
	if err == nil {
		checkText(t, in.Name, in.UUID, string(in.State))
	}
	names, _ := ParseNames(b)
	require.LessOrEqual(t, len(names), MaxDomains)
	_, reason, _ := ParseDomState(b)
	checkText(t, reason)
}

func seeds(t testing.TB) [][]byte {
	var out [][]byte
	dir := filepath.Join("testdata", "recorded")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func FuzzParsers(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAll(t, b) })
}

func TestFaultMalformed(t *testing.T) {
	ss := seeds(t)
	r := rand.New(rand.NewPCG(3, 4))
	hostile := [][]byte{[]byte("\x00"), []byte("\xff"), bytes.Repeat([]byte("y"), 3000), []byte("@@infra-virsh domain z\n"), []byte("@@infra-virsh end dominfo 0\n"), []byte("------\n")}
	for range 1500 {
		b := bytes.Clone(ss[r.IntN(len(ss))])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			j := i + r.IntN(min(len(b)-i, 256)+1)
			switch r.IntN(4) {
			case 0:
				b = b[:i]
			case 1:
				b = append(b[:i:i], b[j:]...)
			case 2:
				b = append(append(b[:i:i], bytes.Repeat(b[i:j], 1+r.IntN(64))...), b[i:]...)
			case 3:
				b = append(append(b[:i:i], hostile[r.IntN(len(hostile))]...), b[j:]...)
			}
		}
		checkAll(t, b)
	}
}

// TestLimits: a listing with more rows than MaxDomains is cut and says so; long cells are clipped.
func TestLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(" Id   Name   State\n----------------------\n")
	for range MaxDomains + 5 {
		b.WriteString(" -    " + strings.Repeat("n", 2*MaxFieldBytes) + "   shut off\n")
	}
	list, trunc, err := ParseList(b.Bytes())
	require.NoError(t, err)
	require.True(t, trunc)
	require.Len(t, list, MaxDomains)
	require.Len(t, list[0].Name, MaxFieldBytes)
}
