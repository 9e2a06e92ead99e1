// Command infrastructor watches and runs a fleet of Linux machines over SSH without agents.
//
// One binary plays every role: the HTTP API (server), the Temporal worker (worker), or both with the
// migrations in one process (up) for a single box.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/infrastructor/infrastructor/internal/devicewrapper"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `infrastructor - agentless monitoring and Docker management for Linux fleets

Usage:
  infrastructor <command> [arguments]

Commands:
  up              Apply migrations, then run the Temporal worker and the HTTP server in one process.
                  The single-box mode that 'make run' uses.
  server          Run the HTTP server only: REST /api/v1, WebSocket /ws, MCP /mcp, dashboard, /metrics.
                  Run as many replicas as needed behind a load balancer.
  worker          Run the Temporal worker only: device polls over SSH, container operations, maintenance.
                  Run as many as needed on the same task queue.
  migrate up      Apply every pending database migration and exit.
  migrate status  List the migrations and whether each is applied.
  migrate timescaledb
                  Convert the time-series tables of an installation made on plain PostgreSQL to TimescaleDB
                  hypertables, keeping every sample, once the server has the extension (README, TimescaleDB).
  device-wrapper  Print the forced-command wrapper for devices' authorized_keys (see deploy/device/README.md):
                  it lets through only the commands this release sends.
  version         Print the version.
  help            Show this help.

Configuration comes from INFRA_* environment variables (see README.md); a bad value stops start-up with
one line naming the variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "infrastructor:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "infrastructor", version)
		return nil
	case "migrate":
		sub := ""
		if len(args) > 1 {
			sub = args[1]
		}
		switch sub {
		case "up":
			return migrateUp(ctx, stderr)
		case "status":
			return migrateStatus(ctx, stdout, stderr)
		case "timescaledb":
			return migrateTimescaleDB(ctx, stdout, stderr)
		default:
			fmt.Fprint(stderr, "usage: infrastructor migrate up|status|timescaledb\n")
			return errUsage
		}
	case "device-wrapper":
		_, err := io.WriteString(stdout, devicewrapper.Script())
		return err
	case "up":
		return serve(ctx, stderr, roleAPI|roleWorker|roleMigrate)
	case "server":
		return serve(ctx, stderr, roleAPI)
	case "worker":
		return serve(ctx, stderr, roleWorker)
	default:
		fmt.Fprintf(stderr, "infrastructor: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
