package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/infrastructor/infrastructor/internal/devicesim"
)

// The start-up every run of the harness shares (Run, RunScaleOut, MeasureSimulator): a work directory, a client key
// the simulated devices accept, PostgreSQL, the device simulator, the product's migrated database, and the fleet
// added through the API. The servers' own start-up is in servers.go.

// sayer returns the run's progress logger: one line per step, prefixed with the run's kind and the time.
func sayer(w io.Writer, kind string) func(format string, args ...any) {
	if w == nil {
		w = io.Discard
	}
	return func(format string, args ...any) {
		fmt.Fprintf(w, "[%s %s] %s\n", kind, time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// workDir returns dir, or when it is empty a new temporary directory named after prefix that cleanup removes. The
// directory is made readable to all: PostgreSQL runs under an account of its own.
func workDir(dir, prefix string) (_ string, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", prefix); err != nil {
			return "", nil, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
	}
	_ = os.Chmod(dir, 0o755)
	return dir, cleanup, nil
}

// processes are the child processes of one run, stopped newest first when it ends.
type processes struct {
	list []*child
	// interrupt names the servers stopped with SIGINT (PostgreSQL's fast shutdown); the rest get SIGTERM.
	interrupt map[string]bool
	grace     time.Duration
}

func newProcesses(grace time.Duration, interrupt ...string) *processes {
	p := &processes{interrupt: map[string]bool{}, grace: grace}
	for _, name := range interrupt {
		p.interrupt[name] = true
	}
	return p
}

// add adds a started process and returns it.
func (p *processes) add(c *child) *child {
	p.list = append(p.list, c)
	return c
}

// stopAll stops every process, newest first, each within the grace period (then SIGKILL).
func (p *processes) stopAll() {
	for i := len(p.list) - 1; i >= 0; i-- {
		sig := syscall.SIGTERM
		if p.interrupt[p.list[i].name] {
			sig = syscall.SIGINT
		}
		p.list[i].stop(sig, p.grace)
	}
}

// startKeyAndPostgres writes the client key the simulated devices accept (and the product logs in with) into dir
// and starts PostgreSQL in dir/pg.
func startKeyAndPostgres(ctx context.Context, dir string) (keyFile, authFile string, pg *child, dbURL string, err error) {
	if keyFile, authFile, err = writeClientKey(dir); err != nil {
		return "", "", nil, "", err
	}
	pgDir := filepath.Join(dir, "pg")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return "", "", nil, "", err
	}
	pg, dbURL, err = startPostgres(ctx, pgDir)
	return keyFile, authFile, pg, dbURL, err
}

// simulator is how a run starts cmd/devicesim.
type simulator struct {
	bin      string
	dir      string // its log and manifest go here
	authFile string // the client keys its devices accept
	devices  int
	// containers per device; negative leaves the simulator's default.
	containers int
	seed       string
}

// start starts the simulator as one of the run's processes and waits for its manifest: the devices' addresses and
// host keys.
func (s simulator) start(ctx context.Context, ps *processes) (*child, []devicesim.ManifestEntry, error) {
	manifest := filepath.Join(s.dir, "devices.json")
	args := []string{"-devices", strconv.Itoa(s.devices), "-authorized-keys", s.authFile, "-manifest", manifest}
	if s.containers >= 0 {
		args = append(args, "-containers", strconv.Itoa(s.containers))
	}
	sim, err := start("devicesim", filepath.Join(s.dir, "devicesim.log"), exec.Command(s.bin, append(args, "-seed", s.seed)...))
	if err != nil {
		return nil, nil, err
	}
	ps.add(sim)
	var devices []devicesim.ManifestEntry
	if err := waitFor(ctx, sim, 120*time.Second, "devicesim", func(context.Context) error {
		raw, err := os.ReadFile(manifest)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &devices)
	}); err != nil {
		return nil, nil, err
	}
	return sim, devices, nil
}

// migrateProduct runs `infrastructor migrate up` against the run's database and returns the binary's version.
func migrateProduct(ctx context.Context, infraBin string, e env) (version string, err error) {
	mig := exec.CommandContext(ctx, infraBin, "migrate", "up")
	mig.Env = e.list()
	if out, err := mig.CombinedOutput(); err != nil {
		return "", fmt.Errorf("migrate up: %w\n%s", err, out)
	}
	ver, err := exec.CommandContext(ctx, infraBin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", infraBin, err)
	}
	return string(ver), nil
}

// addDevices adds the simulated devices through the APIs in turn, spread over one interval as a growing fleet
// would be (adding them all at once would line every poll loop up on the same second), then waits until warmup
// has passed since the first. It returns the devices' IDs.
func addDevices(ctx context.Context, apis []*restClient, devices []devicesim.ManifestEntry, interval, warmup time.Duration) ([]string, error) {
	warmStart := time.Now()
	ids := make([]string, 0, len(devices))
	for i, d := range devices {
		at := warmStart.Add(time.Duration(i) * interval / time.Duration(len(devices)))
		if err := sleepUntil(ctx, at); err != nil {
			return nil, err
		}
		api := apis[i%len(apis)]
		id, err := api.createDevice(ctx, d, interval)
		if err != nil {
			return nil, fmt.Errorf("add device %s through %s: %w", d.Name, api.base, err)
		}
		ids = append(ids, id)
	}
	return ids, sleepUntil(ctx, warmStart.Add(warmup))
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}
