package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// child is a server process the harness started and stops by PID.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// start runs cmd from one OS thread that lives as long as the harness: the parent-death signal fires when the
// forking thread ends, not the process (golang/go#27505), so children must not be forked from arbitrary threads.
func start(name, logPath string, cmd *exec.Cmd) (*child, error) {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = lf
	}
	cmd.Stderr = lf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop signals the process and kills it when it has not exited within grace.
func (c *child) stop(sig syscall.Signal, grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitFor polls check until it succeeds, the child exits or the timeout passes.
func waitFor(ctx context.Context, c *child, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited during start-up (log %s): %w", what, c.log, err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (log %s): %w", what, timeout, c.log, err)
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// postgresBin finds the highest installed PostgreSQL version's bin directory.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a < b
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (apt-get install -y postgresql)")
}

// startPostgres creates a fresh cluster under dir and runs it in the foreground as a child. Commit timestamps
// are tracked because poll lateness is measured against the moment each poll's samples became visible.
func startPostgres(ctx context.Context, dir string) (*child, string, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, "", err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "", fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, "", err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "infrastructor",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "track_commit_timestamp=on",
		"-c", "shared_buffers=256MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	c, err := start("postgres", filepath.Join(dir, "postgres.log"), cmd)
	if err != nil {
		return nil, "", err
	}
	admin := fmt.Sprintf("postgres://infrastructor@127.0.0.1:%d/postgres?sslmode=disable", port)
	err = waitFor(ctx, c, 60*time.Second, "PostgreSQL", func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE DATABASE infrastructor")
		return err
	})
	if err != nil {
		c.stop(syscall.SIGQUIT, 5*time.Second)
		return nil, "", err
	}
	return c, fmt.Sprintf("postgres://infrastructor@127.0.0.1:%d/infrastructor?sslmode=disable", port), nil
}

// startTemporal runs the Temporal dev server (in-memory persistence, no UI) as a child.
func startTemporal(ctx context.Context, exe, dir string, check func(context.Context, string) error) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(exe, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--log-level", "error", "--dynamic-config-value", "frontend.enableServerVersionCheck=false")
	c, err := start("temporal", filepath.Join(dir, "temporal.log"), cmd)
	if err != nil {
		return nil, "", err
	}
	if err := waitFor(ctx, c, 120*time.Second, "Temporal dev server", func(ctx context.Context) error { return check(ctx, addr) }); err != nil {
		c.stop(syscall.SIGKILL, time.Second)
		return nil, "", err
	}
	return c, addr, nil
}
