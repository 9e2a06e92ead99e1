package devicesim

import (
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
)

// ExitUnknownCommand is the exit status of a command the simulator does not know, the shell's "command not
// found", so a product change that sends a new command fails loudly instead of getting a made-up answer.
const ExitUnknownCommand = 127

// Fixed command strings, built once by the product's own builders: the simulator matches what the product
// sends by exact string equality.
var (
	cmdProbe     = docker.Probe()
	cmdInventory = docker.Inventory()
	cmdCgroup    = docker.CgroupStats()
	cmdStats     = docker.Stats()
)

// result is one command's outcome.
type result struct {
	stdout, stderr []byte
	exit           int
}

func unknown(cmd, why string) result {
	if len(cmd) > 200 {
		cmd = cmd[:200] + "..."
	}
	return result{stderr: []byte("devicesim: " + why + ": " + cmd + "\n"), exit: ExitUnknownCommand}
}

// execute answers one exec request. Like the product's SSH layer it expects sshpool.ExecCommand with the command
// as a script on stdin (what the client sent before closing its side); anything else would be parsed by a real
// device's login shell and is refused.
func (d *Device) execute(exec string, stdin func() []byte, now time.Time) result {
	if exec != sshpool.ExecCommand {
		return unknown(exec, "exec request is not "+sshpool.ExecCommand)
	}
	cmd, ok := sshpool.ParseScript(stdin())
	if !ok {
		return unknown(exec, "stdin is not a script")
	}
	switch cmd {
	case collector.Script:
		buf := d.sim.bufs.Get().(*[]byte)
		out := d.writeCollector((*buf)[:0], now)
		res := result{stdout: append([]byte(nil), out...)}
		*buf = out
		d.sim.bufs.Put(buf)
		return res
	case cmdProbe:
		return result{stdout: []byte(probeOutput)}
	case cmdInventory:
		return result{stdout: d.docker.inventory(now)}
	case cmdCgroup:
		return result{stdout: d.docker.cgroupStats(now, now.Sub(d.prof.boot).Seconds())}
	case cmdStats:
		return result{stdout: d.docker.stats(now)}
	}
	if r, ok := d.storage(cmd, now); ok {
		return r
	}
	f := strings.Split(cmd, " ")
	if len(f) < 3 || f[0] != "docker" {
		return unknown(cmd, "unknown command")
	}
	if rest, ok := strings.CutPrefix(cmd, "docker inspect --type container -- "); ok {
		refs := strings.Split(rest, " ")
		if want, err := docker.Inspect(refs...); err != nil || want != cmd {
			return unknown(cmd, "unknown inspect form")
		}
		o, e, x := d.docker.inspect(refs)
		return result{o, e, x}
	}
	if len(f) < 4 || f[len(f)-2] != "--" {
		return unknown(cmd, "unknown command")
	}
	ref, verb, flags := f[len(f)-1], f[1], f[2:len(f)-2]
	// Rebuild the command from what was parsed with the product's builder; only an exact match is answered.
	var want string
	var err error
	signal, force, tail := 0, false, 0
	switch verb {
	case "start":
		want, err = docker.Start(ref)
	case "pause":
		want, err = docker.Pause(ref)
	case "unpause":
		want, err = docker.Unpause(ref)
	case "stop", "restart":
		t := -1
		if len(flags) == 2 && flags[0] == "-t" {
			t, _ = strconv.Atoi(flags[1])
		}
		if verb == "stop" {
			want, err = docker.Stop(ref, t)
		} else {
			want, err = docker.Restart(ref, t)
		}
	case "kill":
		sig := ""
		if len(flags) == 2 && flags[0] == "--signal" {
			sig = flags[1]
		}
		want, err = docker.Kill(ref, sig)
		signal = signalNumber(sig)
	case "rm":
		for _, fl := range flags {
			force = force || fl == "--force"
		}
		want, err = docker.Remove(ref, force, len(flags) > 0 && flags[len(flags)-1] == "--volumes")
	case "logs":
		var o docker.LogOptions
		for i := 0; i+1 < len(flags); i++ {
			switch flags[i] {
			case "--tail":
				o.Tail = flags[i+1]
			case "--since":
				o.Since = flags[i+1]
			case "--until":
				o.Until = flags[i+1]
			}
		}
		want, err = docker.Logs(ref, o)
		tail, _ = docker.NormalizeTail(o.Tail)
	default:
		return unknown(cmd, "unknown docker command")
	}
	if err != nil || want != cmd {
		return unknown(cmd, "unknown form of docker "+verb)
	}
	if verb == "logs" {
		o, e, x := d.docker.logs(ref, tail, now)
		return result{o, e, x}
	}
	o, e, x := d.docker.action(verb, ref, now, signal, force)
	return result{o, e, x}
}

// signalNumber maps the signal names NormalizeSignal produces to numbers for the exit status (128+n).
func signalNumber(sig string) int {
	switch strings.TrimPrefix(sig, "SIG") {
	case "HUP":
		return 1
	case "INT":
		return 2
	case "QUIT":
		return 3
	case "KILL":
		return 9
	case "USR1":
		return 10
	case "USR2":
		return 12
	case "TERM":
		return 15
	}
	if n, err := strconv.Atoi(sig); err == nil {
		return n
	}
	return 9
}
