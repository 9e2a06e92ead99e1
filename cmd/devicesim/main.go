// Command devicesim serves a fleet of simulated Linux devices over SSH for load tests and demos of
// Infrastructor: each device listens on its own loopback port with its own host key and answers the product's
// collector script and docker commands like a real host.
//
//	devicesim -devices 1000 -base-port 20000 -authorized-keys ~/.ssh/id_ed25519.pub -manifest devices.json
//
// The manifest lists every device's address and host key; -control serves a small HTTP API to change faults
// at run time (see devicesim.Sim.Handler).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/devicesim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "devicesim:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Int("devices", 10, "number of simulated devices")
	host := fs.String("host", "127.0.0.1", "listen address of every device")
	basePort := fs.Int("base-port", 0, "port of device 0; device i listens on base-port+i (0: any free ports)")
	seed := fs.String("seed", "devicesim", "seed of host keys, container IDs and device profiles (same seed, same keys)")
	keyGen := fs.Int("key-generation", 0, "host key generation; bump it to rotate every device's key")
	authKeys := fs.String("authorized-keys", "", "authorized_keys file with the client public key(s) to accept (required)")
	user := fs.String("user", "", "only accept this login name (default: any)")
	containers := fs.Int("containers", 4, "containers per device")
	faults := fs.String("faults", "", "faults on a share of the devices, e.g. refuse=0.02,slow=0.05,hang=0.01,drop=0.01,hostkey=0.01")
	slow := fs.Duration("slow-delay", 2*time.Second, "extra latency of the slow fault")
	manifest := fs.String("manifest", "", "write the device list (JSON) to this file once every device listens")
	control := fs.String("control", "", "serve the control API (faults, key rotation, manifest) on this address")
	verbose := fs.Bool("v", false, "log handshake failures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *authKeys == "" {
		return errors.New("-authorized-keys is required")
	}
	keys, err := readAuthorizedKeys(*authKeys)
	if err != nil {
		return err
	}
	shares, err := devicesim.ParseFaultSpec(*faults)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	sim, err := devicesim.New(devicesim.Config{Devices: *devices, Host: *host, BasePort: *basePort, Seed: *seed,
		KeyGeneration: *keyGen, AuthorizedKeys: keys, User: *user, Containers: *containers, SlowDelay: *slow, Log: log})
	if err != nil {
		return err
	}
	defer sim.Close()
	names := make([]string, 0, len(shares))
	for f := range shares {
		names = append(names, string(f))
	}
	sort.Strings(names) // map order would make the chosen devices differ between runs
	for _, n := range names {
		hit := sim.SetFaultShare(devicesim.Fault(n), shares[devicesim.Fault(n)])
		log.Info("fault set", "fault", n, "devices", len(hit))
	}
	if *manifest != "" {
		raw, err := json.MarshalIndent(sim.Manifest(), "", "  ")
		if err != nil {
			return err
		}
		tmp := *manifest + ".tmp"
		if err := os.WriteFile(tmp, raw, 0o644); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
		// Renamed into place so a reader polling for the file never sees half of it.
		if err := os.Rename(tmp, *manifest); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	if *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			return fmt.Errorf("control API: %w", err)
		}
		srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("control API listening", "address", "http://"+ln.Addr().String())
	}
	first, last := sim.Device(0), sim.Device(*devices-1)
	fmt.Fprintf(stdout, "devicesim: %d devices listening on %s .. %s\n", *devices, first.Addr(), last.Addr())
	<-ctx.Done()
	return nil
}

func readAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read authorized keys: %w", err)
	}
	var keys []ssh.PublicKey
	for len(raw) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(raw)
		if err != nil {
			break
		}
		keys = append(keys, k)
		raw = rest
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no public key in %s", path)
	}
	return keys, nil
}
