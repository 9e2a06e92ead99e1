package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/sshpool"
)

// SimMemory is the simulator's resident memory with its devices idle and with every device holding one pooled
// connection that has run a poll.
type SimMemory struct {
	Devices            int     `json:"devices"`
	IdleRSSMB          float64 `json:"idle_rss_mb"`
	ConnectedRSSMB     float64 `json:"connected_rss_mb"`
	ConnectedKBPerDev  float64 `json:"connected_kb_per_device"`
	Polls              int     `json:"polls"`
	Errors             int     `json:"errors"`
	PollRoundSeconds   float64 `json:"poll_round_seconds"`
	ClientRSSMB        float64 `json:"client_rss_mb"`
	ClientKBPerDevConn float64 `json:"client_kb_per_device"`
}

// MeasureSimulator starts simBin with n devices, connects to every device through the product's SSH pool, polls
// each once and reads the simulator's RSS before and after.
func MeasureSimulator(ctx context.Context, simBin string, n int) (*SimMemory, error) {
	dir, err := os.MkdirTemp("", "devicesim-mem-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	keyFile, authFile, err := writeClientKey(dir)
	if err != nil {
		return nil, err
	}
	children := newProcesses(10 * time.Second)
	defer children.stopAll()
	sim, devices, err := simulator{bin: simBin, dir: dir, authFile: authFile, devices: n, containers: -1, seed: "mem"}.start(ctx, children)
	if err != nil {
		return nil, err
	}
	idle, err := readProc(sim.pid())
	if err != nil {
		return nil, err
	}
	signers, err := sshpool.LoadSigners(keyFile)
	if err != nil {
		return nil, err
	}
	pins := sshpool.NewPinnedKeys()
	for _, d := range devices {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(d.HostKey))
		if err != nil {
			return nil, err
		}
		pins.Pin(d.Name, k)
	}
	pool, err := sshpool.New(sshpool.Config{Signers: signers, HostKeys: pins, ConnectTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	before := selfRSS()
	res := &SimMemory{Devices: n, IdleRSSMB: float64(idle.RSSBytes) / (1 << 20)}
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, d := range devices {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := pool.Run(ctx, sshpool.Target{DeviceID: d.Name, Host: d.Host, Port: d.Port, User: "monitor"},
				"sh -s", []byte(collector.Script))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				return
			}
			res.Polls++
		}()
	}
	wg.Wait()
	res.PollRoundSeconds = time.Since(t0).Seconds()
	conn, err := readProc(sim.pid())
	if err != nil {
		return nil, err
	}
	res.ConnectedRSSMB = float64(conn.RSSBytes) / (1 << 20)
	res.ConnectedKBPerDev = float64(conn.RSSBytes) / 1024 / float64(n)
	after := selfRSS()
	res.ClientRSSMB = float64(after) / (1 << 20)
	res.ClientKBPerDevConn = float64(after-before) / 1024 / float64(n)
	if res.Errors > 0 {
		return res, fmt.Errorf("%d of %d polls failed", res.Errors, n)
	}
	return res, nil
}

func selfRSS() int64 {
	u, err := readProc(os.Getpid())
	if err != nil {
		return 0
	}
	return u.RSSBytes
}
