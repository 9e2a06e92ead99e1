package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/infrastructor/infrastructor/internal/devicesim"
)

// restClient talks to the product's REST API with the bootstrap admin token.
type restClient struct {
	base, token string
	hc          *http.Client
}

func (r *restClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (r *restClient) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

func (r *restClient) createDevice(ctx context.Context, d devicesim.ManifestEntry, interval time.Duration) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := r.do(ctx, http.MethodPost, "/api/v1/devices", map[string]any{
		"name": d.Name, "host": d.Host, "port": d.Port, "user": "monitor", "poll_interval": interval.String(),
		"host_key_policy": "trust_first_use", "tags": []string{"bench"},
	}, &out)
	return out.ID, err
}

type restStats struct {
	latencies []float64
	errors    int64
}

// readLoad runs n clients that read what a dashboard reads (one device's CPU series, every fifth request the
// fleet summary) back to back with a short pause, until ctx ends.
func (r *restClient) readLoad(ctx context.Context, ids []string, n int) restStats {
	var mu sync.Mutex
	var st restStats
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				path := "/api/v1/fleet/summary"
				if i%5 != 0 {
					path = "/api/v1/devices/" + ids[mrand.IntN(len(ids))] + "/metrics?metric=cpu&from=15m"
				}
				start := time.Now()
				err := r.do(ctx, http.MethodGet, path, nil, nil)
				took := time.Since(start).Seconds()
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if err != nil {
					st.errors++
				} else {
					st.latencies = append(st.latencies, took)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	return st
}
