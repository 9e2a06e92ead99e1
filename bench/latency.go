package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// wsTokenShare is how many WebSocket connections the harness opens per API token: the server's default limit
// per token (INFRA_WS_MAX_PER_TOKEN) is 20, and the bench keeps the product's defaults, so it opens one read
// token per 20 clients as separate dashboards would have.
const wsTokenShare = 20

// actionStopTimeout is the grace period the bench's restarts ask for, sent explicitly so the command timed over
// SSH is exactly the one the operation runs.
const actionStopTimeout = 10

// createToken makes an API token with the given scopes and returns its secret.
func (r *restClient) createToken(ctx context.Context, name string, scopes ...string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := r.do(ctx, http.MethodPost, "/api/v1/tokens", map[string]any{"name": name, "scopes": scopes}, &out); err != nil {
		return "", fmt.Errorf("create token %s: %w", name, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("create token %s: no secret in the answer", name)
	}
	return out.Token, nil
}

// wsFanout is what measureWSFanout saw.
type wsFanout struct {
	clients    int
	latencies  []float64 // seconds from an update's write to its receipt by the last client
	incomplete int64     // updates written in the window that some client never received
}

// wsUpdate follows one update across the clients.
type wsUpdate struct {
	written  time.Time
	received int
	last     time.Time
}

// measureWSFanout connects n WebSocket clients to the API, subscribes each to device.*.metrics and, for every
// update written during window, measures the time from the write (the update's time field: the poll writer's
// clock, taken in the poll's transaction just before it commits, on this machine) to its arrival at the last of
// the n clients. The updates are the polls' own: no extra writes are made.
func measureWSFanout(ctx context.Context, api *restClient, n int, window time.Duration) (*wsFanout, error) {
	u, err := url.Parse(api.base)
	if err != nil {
		return nil, err
	}
	u.Scheme = "ws"
	u.Path = "/ws"
	var tokens []string
	for i := 0; i < (n+wsTokenShare-1)/wsTokenShare; i++ {
		tok, err := api.createToken(ctx, fmt.Sprintf("bench-ws-%d", i), store.ScopeRead)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, tok)
	}

	var mu sync.Mutex
	updates := map[string]*wsUpdate{}
	var from, until time.Time // written-time bounds of the updates measured; set once every client is subscribed
	record := func(key string, written, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if from.IsZero() || written.Before(from) || !written.Before(until) {
			return
		}
		up := updates[key]
		if up == nil {
			up = &wsUpdate{written: written}
			updates[key] = up
		}
		up.received++
		if at.After(up.last) {
			up.last = at
		}
	}

	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		c, _, err := dialer.DialContext(ctx, u.String(), http.Header{"Authorization": {"Bearer " + tokens[i/wsTokenShare]}})
		if err != nil {
			return nil, fmt.Errorf("websocket client %d: dial %s: %w", i, u, err)
		}
		conns = append(conns, c)
		if err := wsSubscribe(c, "device.*.metrics"); err != nil {
			return nil, fmt.Errorf("websocket client %d: %w", i, err)
		}
	}

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, raw, err := c.ReadMessage()
				at := time.Now() // before decoding: the client's own parsing is not the server's latency
				if err != nil {
					return
				}
				var m struct {
					Type  string    `json:"type"`
					Topic string    `json:"topic"`
					Time  time.Time `json:"time"`
				}
				if json.Unmarshal(raw, &m) != nil || m.Type != "update" {
					continue
				}
				record(m.Topic+"@"+m.Time.Format(time.RFC3339Nano), m.Time, at)
			}
		}()
	}
	mu.Lock()
	from = time.Now()
	until = from.Add(window)
	mu.Unlock()
	// Updates written near the end of the window still need their delivery; a few seconds is ample on loopback,
	// and an update still missing a client then is counted as incomplete rather than waited for.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(window + 3*time.Second):
	}
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	conns = nil

	res := &wsFanout{clients: n}
	mu.Lock()
	defer mu.Unlock()
	for _, up := range updates {
		if up.received < n {
			res.incomplete++
			continue
		}
		res.latencies = append(res.latencies, up.last.Sub(up.written).Seconds())
	}
	return res, nil
}

// wsSubscribe reads the welcome, subscribes to topic and waits for the confirmation.
func wsSubscribe(c *websocket.Conn, topic string) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "bench", "topics": []string{topic}})
	if err := c.WriteMessage(websocket.TextMessage, sub); err != nil {
		return fmt.Errorf("subscribe %s: %w", topic, err)
	}
	for {
		_, raw, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", topic, err)
		}
		var m struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("subscribe %s: %w", topic, err)
		}
		switch m.Type {
		case "subscribed":
			return nil
		case "error":
			return fmt.Errorf("subscribe %s: %s", topic, m.Data)
		}
	}
}

// mcpReads is what measureMCPReads saw.
type mcpReads struct {
	latencies []float64
	errors    int64
}

// measureMCPReads calls the read tool get_device k times, one call at a time, through mcp-go's streamable HTTP
// client against the running server's /mcp with a read token, cycling through the devices. The client is
// initialised and one call is made before timing, so the session set-up is not counted.
func measureMCPReads(ctx context.Context, api *restClient, ids []string, k int) (*mcpReads, error) {
	tok, err := api.createToken(ctx, "bench-mcp", store.ScopeRead)
	if err != nil {
		return nil, err
	}
	c, err := mcpclient.NewStreamableHttpClient(api.base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok}))
	if err != nil {
		return nil, fmt.Errorf("mcp client: %w", err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("mcp start: %w", err)
	}
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "infrastructor-bench", Version: "1"}}}); err != nil {
		return nil, fmt.Errorf("mcp initialize: %w", err)
	}
	callOnce := func(id string) (time.Duration, error) {
		req := mcp.CallToolRequest{}
		req.Params.Name = "get_device"
		req.Params.Arguments = map[string]any{"device": id}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start := time.Now()
		res, err := c.CallTool(cctx, req)
		took := time.Since(start)
		if err != nil {
			return took, fmt.Errorf("get_device %s: %w", id, err)
		}
		if res.IsError {
			return took, fmt.Errorf("get_device %s: tool error", id)
		}
		return took, nil
	}
	if _, err := callOnce(ids[0]); err != nil {
		return nil, fmt.Errorf("mcp warm-up call: %w", err)
	}
	res := &mcpReads{}
	for i := 0; i < k; i++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		took, err := callOnce(ids[i%len(ids)])
		if err != nil {
			res.errors++
			continue
		}
		res.latencies = append(res.latencies, took.Seconds())
	}
	return res, nil
}

// measureRESTDeviceReads reads k devices through GET /api/v1/devices/{id}, one at a time, cycling through the
// devices as measureMCPReads does: the REST read that get_device answers over MCP. It returns the latencies of the
// calls that succeeded, in seconds.
func measureRESTDeviceReads(ctx context.Context, api *restClient, ids []string, k int) []float64 {
	var out []float64
	for i := 0; i < k && ctx.Err() == nil; i++ {
		start := time.Now()
		if err := api.do(ctx, http.MethodGet, "/api/v1/devices/"+ids[i%len(ids)], nil, nil); err == nil {
			out = append(out, time.Since(start).Seconds())
		}
	}
	return out
}

// containerActions is what measureContainerActions saw.
type containerActions struct {
	endToEnd  []float64 // POST .../actions?wait=60s until the answer, seconds
	command   []float64 // the same docker restart command over a warm pooled SSH connection, seconds
	overhead  []float64 // endToEnd[i] - command[i]
	verify    []float64 // the operation's verify step (includes the settle period), seconds
	errors    int64
	firstFail string
}

// measureContainerActions restarts k running containers, each on a different device while there are devices
// left (then the next running container of each device), through POST
// /api/v1/devices/{id}/containers/{ref}/actions?wait=60s, one at a time, and times each request. Right after
// each operation it runs the same `docker restart` command on the same container through the product's SSH pool
// (sshpool, host keys pinned in the database) over a connection already open, and subtracts that time: what is
// left is what the product adds around the docker command (workflow start, precheck, verify with its settle
// period, record, the wait for the result). The simulator answers the command from memory, so the command time is
// the SSH round trip of one session; on a real host docker's own restart time would be added to both.
func measureContainerActions(ctx context.Context, api *restClient, db *pgxpool.Pool, keyFile string, ids []string, k int) (*containerActions, error) {
	signers, err := sshpool.LoadSigners(keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := sshpool.New(sshpool.Config{Signers: signers, HostKeys: &activities.HostKeys{DB: db}})
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	res := &containerActions{}
	fail := func(err error) {
		res.errors++
		if res.firstFail == "" {
			res.firstFail = err.Error()
		}
	}
	running := map[string][]string{}
	for i := 0; i < k; i++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		devID := ids[i%len(ids)]
		names, ok := running[devID]
		if !ok {
			var page struct {
				Items []struct {
					Name string `json:"name"`
				} `json:"items"`
			}
			if err := api.do(ctx, http.MethodGet, "/api/v1/devices/"+devID+"/containers?state=running", nil, &page); err != nil {
				fail(err)
				continue
			}
			for _, it := range page.Items {
				names = append(names, it.Name)
			}
			running[devID] = names
		}
		if len(names) == 0 {
			fail(fmt.Errorf("device %s has no running container", devID))
			continue
		}
		ref := names[(i/len(ids))%len(names)]
		e2e, verify, err := api.restart(ctx, devID, ref)
		if err != nil {
			fail(err)
			continue
		}
		cmd, err := timeRestartCommand(ctx, pool, db, devID, ref)
		if err != nil {
			fail(err)
			continue
		}
		res.endToEnd = append(res.endToEnd, e2e.Seconds())
		res.command = append(res.command, cmd.Seconds())
		res.overhead = append(res.overhead, (e2e - cmd).Seconds())
		if verify > 0 {
			res.verify = append(res.verify, verify.Seconds())
		}
	}
	return res, nil
}

// restart runs one restart operation and waits for its result in the same request; it returns the request's
// duration and the verify step's.
func (r *restClient) restart(ctx context.Context, devID, ref string) (e2e, verify time.Duration, err error) {
	var op struct {
		State string `json:"state"`
		Error string `json:"error"`
		Steps []struct {
			Name       string     `json:"name"`
			StartedAt  time.Time  `json:"started_at"`
			FinishedAt *time.Time `json:"finished_at"`
		} `json:"steps"`
	}
	start := time.Now()
	err = r.do(ctx, http.MethodPost, "/api/v1/devices/"+devID+"/containers/"+url.PathEscape(ref)+"/actions?wait=60s",
		map[string]any{"action": "restart", "timeout": actionStopTimeout}, &op)
	e2e = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("restart %s on %s: %w", ref, devID, err)
	}
	if op.State != store.OpSucceeded {
		return 0, 0, fmt.Errorf("restart %s on %s: operation %s: %s", ref, devID, op.State, op.Error)
	}
	for _, s := range op.Steps {
		if s.Name == activities.StepVerify && s.FinishedAt != nil {
			verify = s.FinishedAt.Sub(s.StartedAt)
		}
	}
	return e2e, verify, nil
}

// timeRestartCommand runs the operation's docker restart command once on the device over the pool and returns
// how long the command took, after an inspect that opens (or reuses) the device's connection so the dial and
// handshake are not counted, as they are not in the worker, whose connections are open from polling.
func timeRestartCommand(ctx context.Context, pool *sshpool.Pool, db *pgxpool.Pool, devID, ref string) (time.Duration, error) {
	id, err := uuid.Parse(devID)
	if err != nil {
		return 0, err
	}
	dev, err := store.GetDevice(ctx, db, id)
	if err != nil {
		return 0, fmt.Errorf("load device %s: %w", devID, err)
	}
	target, err := activities.TargetOf(dev)
	if err != nil {
		return 0, err
	}
	inspect, err := docker.Inspect(ref)
	if err != nil {
		return 0, err
	}
	if _, err := pool.Run(ctx, target, inspect, nil); err != nil {
		return 0, fmt.Errorf("inspect %s on %s: %w", ref, dev.Name, err)
	}
	cmd, err := docker.Restart(ref, actionStopTimeout)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	out, err := pool.Run(ctx, target, cmd, nil)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s on %s: %w", cmd, dev.Name, err)
	}
	if got := strings.TrimSpace(string(out.Stdout)); got != ref {
		return 0, fmt.Errorf("%s on %s: unexpected output %q", cmd, dev.Name, got)
	}
	return took, nil
}

// measureLatencies runs the latency phase: WebSocket fan-out, then MCP reads, then container actions, one after
// the other so none of them loads the others' figures. A measurement that fails is reported in NotMeasured with
// its error instead of failing the run, whose poll figures are already taken.
func measureLatencies(ctx context.Context, o Options, rep *Report, api *restClient, db *pgxpool.Pool, keyFile string,
	ids []string, say func(string, ...any)) {
	ms := func(v []float64, p float64) float64 { return percentile(v, p) * 1000 }

	say("WebSocket fan-out: %d clients on device.*.metrics for %s", o.WSClients, o.WSWindow)
	rep.WSClients, rep.WSWindowSec = o.WSClients, o.WSWindow.Seconds()
	if ws, err := measureWSFanout(ctx, api, o.WSClients, o.WSWindow); err != nil {
		rep.NotMeasured["websocket_fanout_latency"] = "failed: " + err.Error()
	} else {
		rep.WSUpdates, rep.WSIncomplete = int64(len(ws.latencies)), ws.incomplete
		rep.WSP50Ms, rep.WSP99Ms = ms(ws.latencies, 50), ms(ws.latencies, 99)
	}

	say("MCP: %d get_device calls", o.MCPCalls)
	if mr, err := measureMCPReads(ctx, api, ids, o.MCPCalls); err != nil {
		rep.NotMeasured["mcp_read_latency"] = "failed: " + err.Error()
	} else {
		rep.MCPCalls, rep.MCPErrors = int64(len(mr.latencies)), mr.errors
		rep.MCPP50Ms, rep.MCPP99Ms = ms(mr.latencies, 50), ms(mr.latencies, 99)
	}
	say("REST: %d GET /api/v1/devices/{id}", o.MCPCalls)
	if rd := measureRESTDeviceReads(ctx, api, ids, o.MCPCalls); len(rd) > 0 {
		rep.RESTDeviceCalls = int64(len(rd))
		rep.RESTDeviceP50Ms, rep.RESTDeviceP99Ms = ms(rd, 50), ms(rd, 99)
		rep.MCPvsRESTP50 = ratio(rep.MCPP50Ms, rep.RESTDeviceP50Ms)
	}

	say("container actions: %d restarts", o.ContainerActions)
	if ca, err := measureContainerActions(ctx, api, db, keyFile, ids, o.ContainerActions); err != nil {
		rep.NotMeasured["container_action_latency"] = "failed: " + err.Error()
	} else {
		rep.ActionCount, rep.ActionErrors = int64(len(ca.endToEnd)), ca.errors
		rep.ActionP50Ms, rep.ActionP99Ms = ms(ca.endToEnd, 50), ms(ca.endToEnd, 99)
		rep.ActionCommandP50Ms, rep.ActionCommandP99Ms = ms(ca.command, 50), ms(ca.command, 99)
		rep.ActionOverheadP50Ms, rep.ActionOverheadP99Ms = ms(ca.overhead, 50), ms(ca.overhead, 99)
		rep.ActionVerifyP50Ms = ms(ca.verify, 50)
		rep.ActionSettleSec = workflows.DefaultSettle.Seconds()
		if ca.firstFail != "" {
			say("container actions: %d failed, first: %s", ca.errors, ca.firstFail)
		}
	}
}
