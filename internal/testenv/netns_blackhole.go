package testenv

import (
	"os/exec"
	"strings"
)

// BlackHole makes the namespace's link drop every packet in both directions without a word, as a dead router or
// a silently failing VPN does: connections are not refused, they time out. It uses an nftables table of its own
// (`tc netem` is not in every kernel) and skips the test when nft is not installed. Restore removes it; cleanup
// does too.
func (n *Netns) BlackHole() {
	n.t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		n.t.Skip("nftables (nft) not installed; apt-get install -y nftables")
	}
	table := n.blackHoleTable()
	n.run("nft", "add", "table", "inet", table)
	n.t.Cleanup(func() { _ = exec.Command("nft", "delete", "table", "inet", table).Run() })
	n.run("nft", "add", "chain", "inet", table, "out", "{ type filter hook output priority -10 ; }")
	n.run("nft", "add", "rule", "inet", table, "out", "oifname", n.HostVeth, "drop")
	n.run("nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority -10 ; }")
	n.run("nft", "add", "rule", "inet", table, "in", "iifname", n.HostVeth, "drop")
}

// Restore ends a BlackHole: packets flow again.
func (n *Netns) Restore() {
	n.t.Helper()
	n.run("nft", "delete", "table", "inet", n.blackHoleTable())
}

func (n *Netns) blackHoleTable() string {
	return "infra_blackhole_" + strings.TrimPrefix(n.Name, "infra-")
}
