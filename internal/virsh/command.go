package virsh

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Action is an operation on a domain.
type Action string

// Domain actions. Shutdown asks the guest to power off (ACPI) and returns at once; the caller polls DomState and
// may Destroy after its own timeout.
const (
	ActionStart    Action = "start"
	ActionShutdown Action = "shutdown"
	ActionDestroy  Action = "destroy"
	ActionReboot   Action = "reboot"
	ActionSuspend  Action = "suspend"
	ActionResume   Action = "resume"
)

// ValidAction checks an action name.
func ValidAction(a Action) error {
	switch a {
	case ActionStart, ActionShutdown, ActionDestroy, ActionReboot, ActionSuspend, ActionResume:
		return nil
	}
	return argErr("action", string(a), "not one of start, shutdown, destroy, reboot, suspend, resume")
}

// Args returns the virsh arguments (after "virsh [-c URI]") of action on domain, validated. They are also
// valid in virsh's own command language, joined with spaces, because validated names need no quoting there.
func Args(a Action, domain string) ([]string, error) {
	if err := ValidAction(a); err != nil {
		return nil, err
	}
	if err := ValidDomain(domain); err != nil {
		return nil, err
	}
	return []string{string(a), "--domain", domain}, nil
}

// virshLine is `LC_ALL=C virsh [-c URI] args...`, each word shell-quoted.
func virshLine(uri string, args ...string) (string, error) {
	if err := ValidURI(uri); err != nil {
		return "", err
	}
	argv := []string{"virsh"}
	if uri != "" {
		argv = append(argv, "-c", uri)
	}
	return "LC_ALL=C " + docker.Join(append(argv, args...)...), nil
}

// ActionScript returns the sh script (for `sh -s`) that runs action on domain over the connection uri ("" for
// virsh's default). virsh exits non-zero when the domain is not in a state that allows the action.
func ActionScript(a Action, domain, uri string) (string, error) {
	args, err := Args(a, domain)
	if err != nil {
		return "", err
	}
	line, err := virshLine(uri, args...)
	if err != nil {
		return "", err
	}
	return line + "\n", nil
}

// DomStateScript returns the script printing `virsh domstate --reason` of domain (see ParseDomState).
func DomStateScript(domain, uri string) (string, error) {
	if err := ValidDomain(domain); err != nil {
		return "", err
	}
	line, err := virshLine(uri, "domstate", "--reason", "--domain", domain)
	if err != nil {
		return "", err
	}
	return line + "\n", nil
}

const marker = "@@infra-virsh "

// inventoryScript lists every domain and describes each one. The connection comes in as $1 ("" for the
// default), so it is never parsed as code; domain names are read from virsh and only ever used as "$d". Every
// section ends with virsh's exit status. At most MaxDomains domains are described.
const inventoryScript = `export LC_ALL=C
m() { echo "@@infra-virsh $*"; }
command -v virsh >/dev/null 2>&1 || { m absent; exit 0; }
uri=$1
v() { virsh ${uri:+-c "$uri"} "$@"; }
m begin list; v list --all --name 2>&1; m end list $?
v list --all --name 2>/dev/null | head -n %d | while IFS= read -r d; do
  [ -n "$d" ] || continue
  m domain "$d"
  m begin dominfo; v dominfo --domain "$d" 2>&1; m end dominfo $?
  m begin blk; v domblklist --details --domain "$d" 2>&1; m end blk $?
  m begin if; v domiflist --domain "$d" 2>&1; m end if $?
done
`

// InventoryScript returns the sh script (for `sh -s`) that lists all domains with dominfo, disks and
// interfaces; parse its output with ParseInventory.
func InventoryScript(uri string) (string, error) {
	if err := ValidURI(uri); err != nil {
		return "", err
	}
	body := fmt.Sprintf(inventoryScript, MaxDomains)
	// set -- assigns the positional parameters without evaluating the value.
	return "set -- " + docker.ShellQuote(uri) + "\n" + body, nil
}

// Domain is one domain with its devices, as InventoryScript describes it.
type Domain struct {
	Info
	Disks      []Disk      `json:"disks"`
	Interfaces []Interface `json:"interfaces"`
	// Error is set when virsh failed to describe the domain (it may have been undefined meanwhile).
	Error string `json:"error,omitempty"`
}

// Inventory is the parsed output of InventoryScript.
type Inventory struct {
	// Available is false when virsh is not installed; the device has no VMs to report.
	Available bool     `json:"available"`
	Domains   []Domain `json:"domains"`
	// Truncated is true when domains or devices were dropped at the limits.
	Truncated bool `json:"truncated,omitempty"`
	// Error is virsh's message when the domain list itself failed (no daemon, permission denied).
	Error string `json:"error,omitempty"`
}

// ParseInventory reads the output of InventoryScript.
func ParseInventory(out []byte) (*Inventory, error) {
	inv := &Inventory{Available: true, Domains: []Domain{}}
	var cur *Domain
	var sec string
	var body []byte
	var start int
	seen := false
	rest := out
	pos := 0
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		lineStart := pos
		pos += len(line) + 1
		m, ok := bytes.CutPrefix(line, []byte(marker))
		if !ok {
			continue
		}
		seen = true
		word, arg, _ := strings.Cut(string(m), " ")
		switch word {
		case "absent":
			inv.Available = false
			return inv, nil
		case "domain":
			if len(inv.Domains) >= MaxDomains {
				inv.Truncated = true
				cur = nil
				continue
			}
			inv.Domains = append(inv.Domains, Domain{Info: Info{Name: clip(arg, MaxFieldBytes)}, Disks: []Disk{}, Interfaces: []Interface{}})
			cur = &inv.Domains[len(inv.Domains)-1]
		case "begin":
			sec, start = arg, pos
		case "end":
			name, code, _ := strings.Cut(arg, " ")
			if name != sec || start > lineStart {
				sec = ""
				continue
			}
			body = out[start:lineStart]
			exit, _ := strconv.Atoi(code)
			inv.section(cur, sec, body, exit)
			sec = ""
		}
	}
	if !seen {
		return nil, fmt.Errorf("%w: no inventory markers", ErrNotVirsh)
	}
	return inv, nil
}

func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return clip(string(b), MaxFieldBytes)
}

func (inv *Inventory) section(cur *Domain, sec string, body []byte, exit int) {
	if sec == "list" {
		if exit != 0 {
			inv.Error = firstLine(body)
		}
		return
	}
	if cur == nil {
		return
	}
	if exit != 0 {
		if cur.Error == "" {
			cur.Error = firstLine(body)
		}
		return
	}
	switch sec {
	case "dominfo":
		if info, err := ParseInfo(body); err == nil {
			cur.Info = *info
		} else {
			cur.Error = clip(err.Error(), MaxFieldBytes)
		}
	case "blk":
		disks, trunc, err := ParseBlkList(body)
		if err == nil {
			cur.Disks = disks
			inv.Truncated = inv.Truncated || trunc
		}
	case "if":
		ifs, trunc, err := ParseIfList(body)
		if err == nil {
			cur.Interfaces = ifs
			inv.Truncated = inv.Truncated || trunc
		}
	}
}

// AutostartNotRunning lists the domains that are marked autostart but not running: the alert condition.
func (inv *Inventory) AutostartNotRunning() []string {
	var out []string
	for _, d := range inv.Domains {
		if d.Autostart && d.State != StateRunning && d.Error == "" {
			out = append(out, d.Name)
		}
	}
	return out
}

// SystemURI is the libvirt connection Infrastructor reads and acts on. An unprivileged login user's default is
// qemu:///session (its own, usually empty, set of VMs); a host's VMs live in the system instance, reachable to
// root and to members of the libvirt group.
const SystemURI = "qemu:///system"

// SystemInventoryScript is InventoryScript(SystemURI): the fixed script the vms collector sends.
func SystemInventoryScript() string {
	s, err := InventoryScript(SystemURI)
	if err != nil {
		panic(err) // SystemURI is a valid constant
	}
	return s
}

// ActionCommand is the one-line command (no trailing newline, as the device wrapper expects) that runs action on
// domain over SystemURI; with sudo it runs under `sudo -n` (which fails at once instead of asking for a
// password; sudo resets the locale, but the action's output is not parsed).
func ActionCommand(a Action, domain string, sudo bool) (string, error) {
	args, err := Args(a, domain)
	if err != nil {
		return "", err
	}
	argv := append([]string{"virsh", "-c", SystemURI}, args...)
	if sudo {
		return "sudo -n " + docker.Join(argv...), nil
	}
	return "LC_ALL=C " + docker.Join(argv...), nil
}

// DomStateCommand is the one-line `virsh domstate --reason` of domain over SystemURI (see ParseDomState).
func DomStateCommand(domain string) (string, error) {
	s, err := DomStateScript(domain, SystemURI)
	return strings.TrimSuffix(s, "\n"), err
}
