// Command scaleout runs the scale-out benchmark (bench.RunScaleOut): two `infrastructor worker` and two
// `infrastructor server` processes against one Temporal server on PostgreSQL and one PostgreSQL, polling simulated
// devices, with one worker killed by SIGKILL mid-window. It prints the report as markdown and writes it with its
// JSON next to the other bench results. `make bench-scaleout` runs it from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/infrastructor/infrastructor/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var o bench.ScaleOutOptions
	fs := flag.NewFlagSet("scaleout", flag.ContinueOnError)
	fs.IntVar(&o.Devices, "devices", 200, "simulated devices")
	fs.DurationVar(&o.Interval, "interval", 30*time.Second, "poll interval")
	fs.DurationVar(&o.Duration, "duration", 4*time.Minute, "measured window")
	fs.DurationVar(&o.Warmup, "warmup", 0, "time from the first device added to the window (default two intervals)")
	fs.DurationVar(&o.KillAfter, "kill-after", 0, "when, into the window, worker-b gets SIGKILL (default a third of the window; negative: never)")
	fs.IntVar(&o.Containers, "containers", 4, "containers per simulated device")
	fs.IntVar(&o.HistoryShards, "history-shards", 16, "Temporal history shards (TEMPORAL_HISTORY_SHARDS)")
	bin := fs.String("bin", "bin", "directory holding infrastructor and devicesim")
	fs.StringVar(&o.Root, "root", ".", "repository root (scripts/temporal-postgres.sh and bin/temporal-server)")
	results := fs.String("results", filepath.Join("bench", "results"), "directory for the report")
	fs.StringVar(&o.WorkDir, "workdir", "", "directory for logs and data, kept after the run (default a temporary one, removed)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	o.InfraBin = filepath.Join(*bin, "infrastructor")
	o.SimBin = filepath.Join(*bin, "devicesim")
	o.Log = os.Stderr
	rep, err := bench.RunScaleOut(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	md, js, err := rep.Write(*results)
	if err != nil {
		return err
	}
	fmt.Printf("\nwritten: %s, %s\n", md, js)
	return nil
}
