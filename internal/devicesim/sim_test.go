package devicesim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// clock is a settable clock shared by the simulator and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fleet is a simulator and an SSH pool that trusts its devices' keys.
type fleet struct {
	sim  *Sim
	pool *sshpool.Pool
	pins *sshpool.PinnedKeys
	clk  *clock
	// signer is the client key the devices accept.
	signer ssh.Signer
}

func newFleet(t *testing.T, cfg Config, tweak func(*sshpool.Config)) *fleet {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	cfg.AuthorizedKeys = []ssh.PublicKey{signer.PublicKey()}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.Seed == "" {
		cfg.Seed = "test"
	}
	sim, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	pins := sshpool.NewPinnedKeys()
	for _, d := range sim.Devices() {
		pins.Pin(deviceID(d), d.HostKey())
	}
	pcfg := sshpool.Config{Signers: []ssh.Signer{signer}, HostKeys: pins, ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second}
	if tweak != nil {
		tweak(&pcfg)
	}
	pool, err := sshpool.New(pcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	return &fleet{sim: sim, pool: pool, pins: pins, clk: clk, signer: signer}
}

func deviceID(d *Device) string { return "dev-" + strconv.Itoa(d.Index()) }

func target(d *Device) sshpool.Target {
	return sshpool.Target{DeviceID: deviceID(d), Host: "127.0.0.1", Port: d.Port(), User: "monitor"}
}

func (f *fleet) run(t *testing.T, d *Device, cmd string, stdin []byte) (*sshpool.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.pool.Run(ctx, target(d), cmd, stdin)
}

func (f *fleet) poll(t *testing.T, d *Device) *collector.Snapshot {
	t.Helper()
	res, err := f.run(t, d, "sh -s", []byte(collector.Script))
	require.NoError(t, err)
	snap, err := collector.Parse(res.Stdout)
	require.NoError(t, err, "output:\n%s", res.Stdout)
	return snap
}

func TestCollectorOutputParsesIntoSaneMetrics(t *testing.T) {
	f := newFleet(t, Config{Devices: 4, Containers: 3}, nil)
	for _, d := range f.sim.Devices() {
		t.Run(d.Name(), func(t *testing.T) {
			first := f.poll(t, d)
			require.Equal(t, f.clk.Now(), first.Time.UTC())
			require.Len(t, first.CPU.Cores, d.prof.cpus)
			require.NotNil(t, first.Memory)
			require.Equal(t, d.prof.memKB*1024, first.Memory.TotalBytes)
			require.NotNil(t, first.Load)
			require.NotNil(t, first.Processes)
			require.NotNil(t, first.Uptime)
			mounts := map[string]bool{}
			for _, fs := range first.Filesystems {
				mounts[fs.Mount] = true
				require.Positive(t, fs.SizeBytes, fs.Mount)
			}
			require.Equal(t, map[string]bool{"/": true, "/boot/efi": true, "/srv": true}, mounts,
				"pseudo filesystems and container layers must be dropped by the product's filter")
			ifaces := map[string]bool{}
			for _, n := range first.Interfaces {
				ifaces[n.Name] = true
			}
			require.Equal(t, map[string]bool{"eth0": true, "docker0": true}, ifaces, "loopback is left out by the product")
			require.Len(t, first.Disks, 1, "partitions and loop devices are skipped")
			require.Equal(t, d.prof.diskName, first.Disks[0].Name)
			require.GreaterOrEqual(t, len(first.Temperatures), 2)
			require.Equal(t, d.Name(), first.Capabilities.Hostname)
			require.True(t, first.Capabilities.HasDocker)
			require.Equal(t, []string{collector.SectionARCStats}, first.Unavailable)

			// The device's clock moves on by one poll interval.
			f.clk.Add(30 * time.Second)
			second := f.poll(t, d)
			m := collector.Compute(first.Counters(), second)
			require.False(t, m.Reset)
			require.NotNil(t, m.CPU)
			require.Greater(t, m.CPU.UsagePercent, 1.0)
			require.Less(t, m.CPU.UsagePercent, 95.0)
			require.Len(t, m.CPU.Cores, d.prof.cpus)
			for _, c := range m.CPU.Cores {
				require.Greater(t, c.UsagePercent, 0.0)
				require.LessOrEqual(t, c.UsagePercent, 100.0)
			}
			require.Greater(t, m.Memory.UsedPercent, 5.0)
			require.Less(t, m.Memory.UsedPercent, 90.0)
			for _, n := range m.Interfaces {
				require.Greater(t, n.RxBytesPerSec, 0.0, n.Name)
			}
			require.Len(t, m.Disks, 1)
			require.Greater(t, m.Disks[0].WriteBytesPerSec, 0.0)
		})
	}
}

// TestCollectorGolden pins device 0's output at a fixed time so a format change is a reviewed diff.
func TestCollectorGolden(t *testing.T) {
	f := newFleet(t, Config{Devices: 1, Containers: 2}, nil)
	res, err := f.run(t, f.sim.Device(0), "sh -s", []byte(collector.Script))
	require.NoError(t, err)
	path := filepath.Join("testdata", "collector-device0.out")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, res.Stdout, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), string(res.Stdout))
}

// TestFormatsMatchRecordedHosts compares the simulated layouts with files recorded on real machines.
func TestFormatsMatchRecordedHosts(t *testing.T) {
	dir := testenv.FixturesDir(t)
	f := newFleet(t, Config{Devices: 1}, nil)
	var out []byte
	out = f.sim.Device(0).writeCollector(out, f.clk.Now())
	section := func(name string) string {
		s := string(out)
		start := strings.Index(s, "@@infra:"+name+"@@\n")
		require.GreaterOrEqual(t, start, 0, name)
		s = s[start+len("@@infra:"+name+"@@\n"):]
		return s[:strings.Index(s, "@@infra:")]
	}
	netdev, err := os.ReadFile(filepath.Join(dir, "proc", "procfs__proc.net.dev"))
	require.NoError(t, err)
	recHeader := strings.SplitAfterN(string(netdev), "\n", 3)
	simHeader := strings.SplitAfterN(section("netdev"), "\n", 3)
	require.Equal(t, recHeader[:2], simHeader[:2], "net/dev header")

	disk, err := os.ReadFile(filepath.Join(dir, "proc", "jamescun-procfs__proc.diskstats"))
	require.NoError(t, err)
	recFields := len(strings.Fields(strings.SplitN(string(disk), "\n", 2)[0]))
	for _, l := range strings.Split(strings.TrimSpace(section("diskstats")), "\n") {
		require.Len(t, strings.Fields(l), recFields, "diskstats columns of %q", l)
	}
	mem, err := os.ReadFile(filepath.Join(dir, "proc", "jamescun-procfs__proc.meminfo"))
	require.NoError(t, err)
	recLine := strings.SplitN(string(mem), "\n", 2)[0] // "MemTotal:       65563628 kB"
	simLine := strings.SplitN(section("meminfo"), "\n", 2)[0]
	require.Equal(t, len(recLine), len(simLine), "meminfo value column: %q vs %q", recLine, simLine)
}

func TestDockerCommands(t *testing.T) {
	f := newFleet(t, Config{Devices: 1, Containers: 6}, nil)
	d := f.sim.Device(0)

	res, err := f.run(t, d, docker.Probe(), nil)
	require.NoError(t, err)
	avail := docker.ClassifyProbe(res.Stdout, res.Stderr, res.ExitCode)
	require.Equal(t, docker.Available, avail.State)
	require.Equal(t, "1.41", avail.APIVersion)

	inventory := func() map[string]docker.Container {
		res, err := f.run(t, d, docker.Inventory(), nil)
		require.NoError(t, err)
		cs, err := docker.ParsePS(res.Stdout)
		require.NoError(t, err, "%s", res.Stdout)
		byName := map[string]docker.Container{}
		for _, c := range cs {
			byName[c.Name] = c
		}
		return byName
	}
	ps := inventory()
	require.Len(t, ps, 6)
	require.Equal(t, docker.StateRunning, ps["shop-web-1"].State)
	require.Equal(t, docker.HealthHealthy, ps["shop-web-1"].Health)
	require.Equal(t, "shop", ps["shop-web-1"].ComposeProject)
	require.Equal(t, "/srv/shop", ps["shop-web-1"].ComposeWorkingDir)
	require.Equal(t, docker.StateExited, ps["backup"].State)
	require.Equal(t, 3, ps["backup"].ExitCode)
	require.Equal(t, docker.StatePaused, ps["jobs"].State)

	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	cmd, err := docker.Inspect(names...)
	require.NoError(t, err)
	res, err = f.run(t, d, cmd, nil)
	require.NoError(t, err)
	ins, err := docker.ParseInspect(res.Stdout)
	require.NoError(t, err)
	require.Len(t, ins, 6)
	for _, c := range ins {
		require.Equal(t, ps[c.Name].ID, c.ID)
		require.Equal(t, ps[c.Name].State, c.State, c.Name)
		if c.State == docker.StateRunning {
			require.Positive(t, c.PID, c.Name)
			require.False(t, c.Started.IsZero())
		}
	}

	res, err = f.run(t, d, docker.CgroupStats(), nil)
	require.NoError(t, err)
	cg, err := docker.ParseCgroupStats(res.Stdout)
	require.NoError(t, err)
	require.Equal(t, 1, cg.CgroupVersion)
	require.Len(t, cg.Containers, 5, "running and paused containers")
	for _, c := range cg.Containers {
		require.Positive(t, c.MemoryUsage)
		if c.NetworkMode == "host" {
			require.Nil(t, c.Networks)
		}
	}

	res, err = f.run(t, d, docker.Stats(), nil)
	require.NoError(t, err)
	st, err := docker.ParseStats(res.Stdout)
	require.NoError(t, err)
	require.Len(t, st, 5)

	logs, err := docker.Logs("shop-web-1", docker.LogOptions{Tail: "5"})
	require.NoError(t, err)
	res, err = f.run(t, d, logs, nil)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	require.Len(t, lines, 5)
	_, _, err = docker.ParseLogLine(lines[0])
	require.NoError(t, err)
}

func TestDockerActionsChangeState(t *testing.T) {
	must := func(cmd string, err error) string {
		require.NoError(t, err)
		return cmd
	}
	tests := []struct {
		name      string
		cmd       string
		wantExit  int
		container string
		wantState docker.State
		wantCode  int
	}{
		{"stop running", must(docker.Stop("cache", 10)), 0, "cache", docker.StateExited, 143},
		{"start stopped", must(docker.Start("cache")), 0, "cache", docker.StateRunning, 0},
		{"pause", must(docker.Pause("cache")), 0, "cache", docker.StatePaused, 0},
		{"pause paused fails", must(docker.Pause("cache")), 1, "cache", docker.StatePaused, 0},
		{"unpause", must(docker.Unpause("cache")), 0, "cache", docker.StateRunning, 0},
		{"kill", must(docker.Kill("cache", "KILL")), 0, "cache", docker.StateExited, 137},
		{"kill stopped fails", must(docker.Kill("cache", "TERM")), 1, "cache", docker.StateExited, 137},
		{"restart stopped", must(docker.Restart("cache", 0)), 0, "cache", docker.StateRunning, 0},
		{"start exited by id prefix", "", 0, "backup", docker.StateRunning, 0},
		{"remove running refused", must(docker.Remove("shop-db-1", false, false)), 1, "shop-db-1", docker.StateRunning, 0},
		{"unknown container", must(docker.Start("nope")), 1, "shop-db-1", docker.StateRunning, 0},
	}
	f := newFleet(t, Config{Devices: 1, Containers: 6}, nil)
	d := f.sim.Device(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.cmd
			if cmd == "" {
				c, err := d.docker.find(tt.container)
				require.NoError(t, err)
				cmd = must(docker.Start(c.id[:12]))
			}
			res, err := f.run(t, d, cmd, nil)
			if tt.wantExit == 0 {
				require.NoError(t, err)
			} else {
				require.Equal(t, sshpool.CommandFailed, sshpool.KindOf(err))
				require.Equal(t, tt.wantExit, res.ExitCode)
				require.Contains(t, string(res.Stderr), "Error")
			}
			ins := must(docker.Inspect(tt.container))
			res, err = f.run(t, d, ins, nil)
			require.NoError(t, err)
			cs, err := docker.ParseInspect(res.Stdout)
			require.NoError(t, err)
			require.Len(t, cs, 1)
			require.Equal(t, tt.wantState, cs[0].State)
			require.Equal(t, tt.wantCode, cs[0].ExitCode)
		})
	}
	t.Run("remove forced", func(t *testing.T) {
		_, err := f.run(t, d, must(docker.Remove("shop-db-1", true, true)), nil)
		require.NoError(t, err)
		res, err := f.run(t, d, docker.Inventory(), nil)
		require.NoError(t, err)
		require.NotContains(t, string(res.Stdout), "shop-db-1")
	})
}

func TestUnknownCommandsFailLoudly(t *testing.T) {
	tests := []struct {
		name, cmd string
		stdin     []byte
	}{
		{"free-form shell", "uname -a", nil},
		{"sh -s with another script", "sh -s", []byte("cat /etc/shadow\n")},
		{"docker command in another spelling", "docker ps -a --format '{{json .}}'", nil},
		{"stop with a flag order the product never sends", "docker stop -- cache", nil},
		{"inspect without --type", "docker inspect -- cache", nil},
	}
	f := newFleet(t, Config{Devices: 1, Containers: 3}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.run(t, f.sim.Device(0), tt.cmd, tt.stdin)
			require.Equal(t, sshpool.CommandFailed, sshpool.KindOf(err))
			require.Equal(t, ExitUnknownCommand, res.ExitCode)
			require.Contains(t, string(res.Stderr), "devicesim:")
		})
	}
}

// TestRawExecRequestsAreRefused sends what a client that trusts the login shell would: the command itself as the
// exec request. A real device would hand it to a login shell, so the simulator answers only the fixed `sh -s`
// with the command as a script on stdin, as the product's SSH layer sends it.
func TestRawExecRequestsAreRefused(t *testing.T) {
	f := newFleet(t, Config{Devices: 1, Containers: 3}, nil)
	d := f.sim.Device(0)
	client, err := ssh.Dial("tcp", "127.0.0.1:"+strconv.Itoa(d.Port()), &ssh.ClientConfig{User: "monitor",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(f.signer)}, HostKeyCallback: ssh.FixedHostKey(d.HostKey()), Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer client.Close()
	for _, tc := range []struct {
		name, exec string
		stdin      []byte
	}{
		{"command as exec request", docker.Inventory(), nil},
		{"sh -s with a bare command", sshpool.ExecCommand, []byte(docker.Inventory())},
		{"sh -c", "sh -c " + docker.ShellQuote(docker.Inventory()), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := client.NewSession()
			require.NoError(t, err)
			defer sess.Close()
			var stderr strings.Builder
			sess.Stderr = &stderr
			if tc.stdin != nil {
				sess.Stdin = strings.NewReader(string(tc.stdin))
			}
			err = sess.Run(tc.exec)
			var ee *ssh.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, ExitUnknownCommand, ee.ExitStatus())
			require.Contains(t, stderr.String(), "devicesim:")
		})
	}
	// The same command the product's way is answered.
	res, err := f.run(t, d, docker.Inventory(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, res.Stdout)
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault    Fault
		wantKind sshpool.Kind
	}{
		{FaultRefuse, sshpool.Refused},
		{FaultHang, sshpool.Timeout},
		{FaultSlow, sshpool.Timeout},
		{FaultDrop, sshpool.Closed},
		{FaultHostKey, sshpool.HostKeyChanged},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			f := newFleet(t, Config{Devices: 2, SlowDelay: 3 * time.Second}, func(c *sshpool.Config) {
				c.ConnectTimeout = time.Second
				c.CommandTimeout = 1500 * time.Millisecond
			})
			d, healthy := f.sim.Device(0), f.sim.Device(1)
			f.poll(t, d) // a pooled connection exists before the fault
			d.SetFault(tt.fault)
			require.Equal(t, tt.fault, d.Fault())
			kind, err := f.failKind(t, d, tt.wantKind)
			require.Equal(t, tt.wantKind, kind, "err: %v", err)
			f.poll(t, healthy) // other devices are unaffected

			d.SetFault(FaultNone)
			if tt.fault == FaultHostKey {
				f.pins.Pin(deviceID(d), d.HostKey()) // an administrator approves the new key
			}
			f.poll(t, d)
		})
	}
}

// failKind polls d and returns the error's kind. A fault on an established connection may first surface as the
// connection closing under the command; the next attempt dials afresh and must see the fault's own kind.
func (f *fleet) failKind(t *testing.T, d *Device, want sshpool.Kind) (sshpool.Kind, error) {
	t.Helper()
	var kind sshpool.Kind
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		_, err = f.run(t, d, "sh -s", []byte(collector.Script))
		require.Error(t, err)
		kind = sshpool.KindOf(err)
		var hk *sshpool.HostKeyError
		if errors.As(err, &hk) {
			kind = hk.Kind
		}
		if kind == want || kind != sshpool.Closed {
			break
		}
	}
	return kind, err
}

func TestSlowFaultDelaysAnswers(t *testing.T) {
	f := newFleet(t, Config{Devices: 1, SlowDelay: 400 * time.Millisecond}, nil)
	d := f.sim.Device(0)
	d.SetFault(FaultSlow)
	start := time.Now()
	f.poll(t, d)
	require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
}

func TestHostKeysAreDeterministicAndRotate(t *testing.T) {
	a := newFleet(t, Config{Devices: 3, Seed: "fleet-a"}, nil)
	b := newFleet(t, Config{Devices: 3, Seed: "fleet-a"}, nil)
	c := newFleet(t, Config{Devices: 3, Seed: "fleet-a", KeyGeneration: 1}, nil)
	keys := map[string]bool{}
	for i := 0; i < 3; i++ {
		ka := string(a.sim.Device(i).HostKey().Marshal())
		require.Equal(t, ka, string(b.sim.Device(i).HostKey().Marshal()), "same seed, same key after a restart")
		require.NotEqual(t, ka, string(c.sim.Device(i).HostKey().Marshal()), "another generation rotates the key")
		keys[ka] = true
	}
	require.Len(t, keys, 3, "every device has its own key")

	d := a.sim.Device(1)
	a.poll(t, d)
	old := d.HostKey()
	d.RotateHostKey()
	require.NotEqual(t, old.Marshal(), d.HostKey().Marshal())
	kind, err := a.failKind(t, d, sshpool.HostKeyChanged)
	require.Equal(t, sshpool.HostKeyChanged, kind, "err: %v", err)
}

func TestFaultShareIsDeterministic(t *testing.T) {
	f := newFleet(t, Config{Devices: 200, Seed: "share"}, nil)
	hit := f.sim.SetFaultShare(FaultSlow, 0.1)
	require.InDelta(t, 20, len(hit), 12)
	for _, d := range hit {
		require.Equal(t, FaultSlow, d.Fault())
	}
	g := newFleet(t, Config{Devices: 200, Seed: "share"}, nil)
	again := g.sim.SetFaultShare(FaultSlow, 0.1)
	require.Len(t, again, len(hit))
	for i := range hit {
		require.Equal(t, hit[i].Index(), again[i].Index())
	}
}

func TestRejectsUnknownClientKey(t *testing.T) {
	f := newFleet(t, Config{Devices: 1}, nil)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	other, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{other}, HostKeys: f.pins, ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Run(context.Background(), target(f.sim.Device(0)), "sh -s", []byte(collector.Script))
	require.Equal(t, sshpool.AuthFailed, sshpool.KindOf(err))
}
