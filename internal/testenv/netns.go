package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Netns is a test host: a network namespace joined to the test's namespace by a veth pair, with its own
// address in a private /24 used only inside this machine.
type Netns struct {
	// Name is the namespace name (for `ip netns exec` and SSHDOptions.Netns).
	Name string
	// HostIP is the test side's address; IP is the namespace's address, the one devices are reached at.
	HostIP, IP string
	// HostVeth is the test side of the veth pair; taking it down cuts the namespace off.
	HostVeth string
	t        testing.TB
}

// netnsSubnets hands out a distinct 10.213.N.0/24 per namespace within one test binary; the random part of
// the names keeps test binaries that run at once apart.
var (
	netnsMu   sync.Mutex
	netnsNext = 0
)

// NewNetns creates a namespace with a veth link to this one and removes both at cleanup. It needs root and
// iproute2, and skips the test with the reason otherwise.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run the tests as root (CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) not installed; apt-get install -y iproute2")
	}
	netnsMu.Lock()
	netnsNext++
	n := netnsNext
	netnsMu.Unlock()
	suffix := randomHex(t, 3)
	// The third octet mixes the random suffix in, so test binaries running side by side rarely share a subnet.
	octet := (int(suffix[0])*31+int(suffix[1])*7+n*13)%200 + 20
	ns := &Netns{
		Name:     "infra-" + suffix,
		HostIP:   fmt.Sprintf("10.213.%d.1", octet),
		IP:       fmt.Sprintf("10.213.%d.2", octet),
		HostVeth: "ivh" + suffix,
		t:        t,
	}
	peer := "ivn" + suffix
	ns.run("ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", ns.HostVeth).Run()
		_ = exec.Command("ip", "netns", "del", ns.Name).Run()
	})
	ns.run("ip", "link", "add", ns.HostVeth, "type", "veth", "peer", "name", peer)
	ns.run("ip", "link", "set", peer, "netns", ns.Name)
	ns.run("ip", "addr", "add", ns.HostIP+"/24", "dev", ns.HostVeth)
	ns.run("ip", "link", "set", ns.HostVeth, "up")
	ns.run("ip", "netns", "exec", ns.Name, "ip", "addr", "add", ns.IP+"/24", "dev", peer)
	ns.run("ip", "netns", "exec", ns.Name, "ip", "link", "set", peer, "up")
	ns.run("ip", "netns", "exec", ns.Name, "ip", "link", "set", "lo", "up")
	// With the veth down its /24 route disappears; this route keeps packets for the test range on the machine
	// ("no route to host") instead of letting them follow the default route out.
	if out, err := exec.Command("ip", "route", "add", "unreachable", "10.213.0.0/16", "metric", "4000").CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "File exists") {
		t.Fatalf("testenv: unreachable route for the test range: %v: %s", err, out)
	}
	return ns
}

// LinkDown cuts the namespace off, as a pulled cable does.
func (n *Netns) LinkDown() { n.run("ip", "link", "set", n.HostVeth, "down") }

// LinkUp reconnects the namespace.
func (n *Netns) LinkUp() {
	n.run("ip", "link", "set", n.HostVeth, "up")
	// Bringing the link up drops the address's route until it is re-added by the kernel; make sure it is there.
	_ = exec.Command("ip", "route", "replace", n.HostIP[:strings.LastIndex(n.HostIP, ".")]+".0/24", "dev", n.HostVeth, "src", n.HostIP).Run()
}

func (n *Netns) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("testenv: %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
