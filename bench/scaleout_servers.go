package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startTemporalPostgres sets up Temporal's databases on the run's PostgreSQL with scripts/temporal-postgres.sh,
// starts the server through it and registers the default namespace: the same steps as `make run
// TEMPORAL=postgres`, on ports of the run's own.
func startTemporalPostgres(ctx context.Context, script, dir, dbURL string, shards int) (*child, string, error) {
	hostPort := strings.TrimPrefix(dbURL, "postgres://")
	hostPort = hostPort[:strings.IndexByte(hostPort, '/')] // infrastructor@127.0.0.1:port
	for attempt := 0; ; attempt++ {
		frontend, err := freePortBlock()
		if err != nil {
			return nil, "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", frontend)
		env := append(os.Environ(), "TEMPORAL_DB_URL=postgres://"+hostPort+"/", "TEMPORAL_ADDRESS="+addr,
			fmt.Sprintf("TEMPORAL_UI_PORT=%d", frontend+1000), "TEMPORAL_STATE_DIR="+filepath.Join(dir, "temporal"),
			fmt.Sprintf("TEMPORAL_HISTORY_SHARDS=%d", shards), "TEMPORAL_LOG_LEVEL=warn", "TEMPORAL_NAMESPACE=default")
		// The configuration names the ports, so it is written again for each block tried.
		setup := exec.CommandContext(ctx, script, "setup")
		setup.Env = env
		if out, err := setup.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("temporal-postgres.sh setup: %w\n%s", err, out)
		}
		cmd := exec.Command(script, "server")
		cmd.Env = env
		c, err := start("temporal", filepath.Join(dir, "temporal.log"), cmd)
		if err != nil {
			return nil, "", err
		}
		err = waitFor(ctx, c, 180*time.Second, "Temporal server", func(ctx context.Context) error {
			ns := exec.CommandContext(ctx, script, "namespace")
			ns.Env = append(env, "TEMPORAL_START_TIMEOUT=10")
			if out, err := ns.CombinedOutput(); err != nil {
				return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
			}
			return checkTemporal(ctx, addr)
		})
		if err == nil {
			return c, addr, nil
		}
		c.stop(syscall.SIGKILL, time.Second)
		// Another program may have taken one of the ports since they were checked: try another block.
		if attempt >= 2 || ctx.Err() != nil {
			return nil, "", err
		}
	}
}

// freePortBlock finds a frontend port whose neighbours that scripts/temporal-postgres.sh derives from it (+1, +2,
// +6, +10 and their membership ports 300 below) are free.
func freePortBlock() (int, error) {
	offsets := []int{0, 1, 2, 6, 10, -300, -299, -298, -294, 1000}
next:
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(20000)
		var held []net.Listener
		for _, off := range offsets {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				for _, l := range held {
					l.Close()
				}
				continue next
			}
			held = append(held, ln)
		}
		for _, l := range held {
			l.Close()
		}
		return base, nil
	}
	return 0, errors.New("no free block of ports for the Temporal server")
}
