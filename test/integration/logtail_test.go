package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
	"github.com/infrastructor/infrastructor/internal/vocab"
	"github.com/infrastructor/infrastructor/workflows"
)

// startTailAPI runs an API replica with a hub and the stack's workflow client on the stack's database, as a
// production API process is: its WebSocket clients can watch live log tails, which the stack's worker runs.
func startTailAPI(t *testing.T, s *teststack.Stack, edit func(*config.Config)) *wsAPI {
	t.Helper()
	live := teststack.ServeLiveAPI(t, api.Deps{Pool: s.DB, Workflows: s.Poller}, hub.Options{}, edit)
	return &wsAPI{URL: live.WSURL(), Hub: live.Hub}
}

// tailWatcher collects what one WebSocket client receives on a log topic.
type tailWatcher struct {
	mu     sync.Mutex
	lines  []activities.TailLine
	events []activities.TailMessage
	got    []time.Time // arrival of each line
}

func (w *tailWatcher) read(t *testing.T, c *wsConn, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
		}
		// A read deadline that passes breaks a WebSocket connection for good: the test closes the connection to
		// stop this reader instead.
		_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		_, raw, err := c.c.ReadMessage()
		if err != nil {
			return
		}
		var m hub.Message
		if json.Unmarshal(raw, &m) != nil || m.Type != hub.TypeUpdate {
			continue
		}
		var tm activities.TailMessage
		if json.Unmarshal(m.Data, &tm) != nil {
			continue
		}
		w.mu.Lock()
		for _, l := range tm.Lines {
			w.lines = append(w.lines, l)
			w.got = append(w.got, time.Now())
		}
		if tm.Event != "" {
			w.events = append(w.events, tm)
		}
		w.mu.Unlock()
	}
}

// counters returns the numbers of the "out N" lines received, in order.
func (w *tailWatcher) counters() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, l := range w.lines {
		if n, ok := strings.CutPrefix(l.Text, "out "); ok && l.Stream == "stdout" {
			if v, err := strconv.Atoi(n); err == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

func (w *tailWatcher) hasEvent(kind string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.Event == kind {
			return true
		}
	}
	return false
}

// TestLiveContainerLogTail: WebSocket clients subscribed to a container's log topic receive the lines it prints
// soon after; three clients on two API replicas share one tail (one workflow, one run, one SSH session); a link that goes down and
// comes back resumes the tail after its last published line: no line twice, none missing, and a gap marker.
func TestLiveContainerLogTail(t *testing.T) {
	engine := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	name := testenv.ContainerName(t, "ticker")
	engine.Docker(t, "run", "-d", "--network", "none", "--name", name, img,
		"sh", "-c", "i=0; while :; do i=$((i+1)); echo out $i; echo err $i >&2; sleep 0.2; done")
	t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", name) })

	ns := testenv.NewNetns(t)
	remote := testenv.StartSSHD(t, testenv.SSHDOptions{Netns: ns.Name, Addr: ns.IP + ":22", ExtraConfig: []string{engine.SetEnv()}})
	s := startStack(t, []ssh.Signer{remote.ClientSigner})
	dev := s.createDevice("tailed", ns.IP, 22, remote.User, store.PolicyTrustFirstUse)
	require.Eventually(t, func() bool { return s.device(dev.ID).Status == "online" }, 2*time.Minute, 200*time.Millisecond)

	// Two API replicas: two clients on one, the third on the other.
	a := startTailAPI(t, s.Stack, nil)
	b := startTailAPI(t, s.Stack, nil)
	topic := vocab.TopicContainerLogs(dev.ID.String(), name)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var conns []*wsConn
	t.Cleanup(func() {
		close(done)
		for _, c := range conns {
			_ = c.c.Close()
		}
		wg.Wait()
	})
	watchers := make([]*tailWatcher, 3)
	for i := range watchers {
		replica := a
		if i == 2 {
			replica = b
		}
		conns = append(conns, replica.connect(t, s.ReadToken))
		conns[i].subscribe(topic)
		watchers[i] = &tailWatcher{}
		wg.Add(1)
		go func(w *tailWatcher, c *wsConn) { defer wg.Done(); w.read(t, c, done) }(watchers[i], conns[i])
	}
	wfID := workflows.LogTailWorkflowID(dev.ID.String(), topic)
	ctx := context.Background()
	desc, err := s.TC.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	runID := desc.WorkflowExecutionInfo.Execution.RunId

	// Lines arrive, to every client, soon after the container printed them.
	for _, w := range watchers {
		require.Eventually(t, func() bool { return len(w.counters()) >= 10 }, 30*time.Second, 50*time.Millisecond)
	}
	w0 := watchers[0]
	// The client whose subscription started the tail was subscribed before it started, so it saw the start.
	require.True(t, w0.hasEvent(activities.TailEventStarted), "the first watcher missed the tail's started marker")
	w0.mu.Lock()
	var worst time.Duration
	for i, l := range w0.lines {
		if i >= 5 && !l.Time.IsZero() { // the first ones are the tail's context, printed before it started
			worst = max(worst, w0.got[i].Sub(l.Time))
		}
	}
	w0.mu.Unlock()
	t.Logf("worst delay from print to client: %s", worst)
	require.Less(t, worst, 10*time.Second, "generous for a loaded machine; about a second is usual")

	// One tail for the three clients: one run of the workflow, one watcher row for the token per replica.
	var rows, clients int
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT count(*), sum(clients) FROM log_tail_watchers WHERE source = $1`, wfID).Scan(&rows, &clients))
	require.Equal(t, 2, rows)
	require.Equal(t, 3, clients)

	// Cut the link until the worker's pool notices (keep-alive probes), then bring it back.
	ns.LinkDown()
	require.Eventually(t, func() bool { return !s.SSH.Connected(dev.ID.String()) }, time.Minute, 100*time.Millisecond,
		"the pool never noticed the dead link")
	before := len(w0.counters())
	ns.LinkUp()
	for _, w := range watchers {
		require.Eventually(t, func() bool { return w.hasEvent(activities.TailEventGap) }, 2*time.Minute, 100*time.Millisecond, "no gap marker")
		require.Eventually(t, func() bool { return len(w.counters()) >= before+30 }, time.Minute, 100*time.Millisecond)
	}
	desc, err = s.TC.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	require.Equal(t, runID, desc.WorkflowExecutionInfo.Execution.RunId, "the three clients shared one tail throughout")

	for i, w := range watchers {
		got := w.counters()
		seen := map[int]bool{}
		for _, n := range got {
			require.False(t, seen[n], "client %d got line %d twice", i, n)
			seen[n] = true
		}
		for j := 1; j < len(got); j++ {
			require.Equal(t, got[j-1]+1, got[j], "client %d: line %d follows %d: lines went missing", i, got[j], got[j-1])
		}
	}

	// The last watcher leaving ends the tail within seconds.
	for _, c := range conns {
		b, _ := json.Marshal(map[string]any{"type": "unsubscribe", "topics": []string{topic}})
		require.NoError(t, c.c.WriteMessage(1, b))
	}
	require.Eventually(t, func() bool {
		d, err := s.TC.DescribeWorkflowExecution(ctx, wfID, "")
		return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
	}, time.Minute, 200*time.Millisecond, "the tail kept running without watchers")
}

// TestLiveLogTailLimits: a token may watch INFRA_LOG_TAILS_PER_TOKEN tails; one more is refused with an error
// naming the limit, and a bad log topic names what is wrong.
func TestLiveLogTailLimits(t *testing.T) {
	engine := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	var names []string
	for i := range 2 {
		n := testenv.ContainerName(t, "quiet"+strconv.Itoa(i))
		engine.Docker(t, "run", "-d", "--network", "none", "--name", n, img, "sleep", "1000")
		t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", n) })
		names = append(names, n)
	}
	remote := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	s := startStack(t, []ssh.Signer{remote.ClientSigner})
	dev := s.createDevice("limited", remote.Host, remote.Port, remote.User, store.PolicyTrustFirstUse)
	a := startTailAPI(t, s.Stack, func(c *config.Config) { c.LogTailsPerToken, c.LogTailsPerDevice = 1, 1 })
	refused := func(c *wsConn, topic string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"type": "subscribe", "topics": []string{topic}})
		c.send(string(b))
		m := c.read()
		for m.Type == hub.TypeUpdate {
			m = c.read()
		}
		require.Equal(t, "too_many_tails", errorCode(t, m))
		return string(m.Data)
	}
	first, second := vocab.TopicContainerLogs(dev.ID.String(), names[0]), vocab.TopicContainerLogs(dev.ID.String(), names[1])
	c := a.connect(t, s.ReadToken)
	c.subscribe(first)
	require.Contains(t, refused(c, second), "INFRA_LOG_TAILS_PER_TOKEN")
	// Another token: the device runs its one tail already, which the token may join but not add to.
	o := a.connect(t, s.OperateToken)
	require.Contains(t, refused(o, second), "INFRA_LOG_TAILS_PER_DEVICE")
	o.subscribe(first)

	b, _ := json.Marshal(map[string]any{"type": "subscribe", "topics": []string{"device." + uuid.NewString() + ".logs?unit=a;b"}})
	c.send(string(b))
	m := c.read()
	for m.Type == hub.TypeUpdate {
		m = c.read()
	}
	require.Equal(t, "invalid_topic", errorCode(t, m))
	require.Contains(t, string(m.Data), "unit")
}

// TestLiveLogTailUnknownContainer: a tail of a container the device does not have tells its watchers so, once,
// and does not retry.
func TestLiveLogTailUnknownContainer(t *testing.T) {
	engine := testenv.StartDocker(t)
	remote := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	s := startStack(t, []ssh.Signer{remote.ClientSigner})
	dev := s.createDevice("unknown-container", remote.Host, remote.Port, remote.User, store.PolicyTrustFirstUse)
	a := startTailAPI(t, s.Stack, nil)
	c := a.connect(t, s.ReadToken)
	topic := vocab.TopicContainerLogs(dev.ID.String(), "no-such-container")
	c.subscribe(topic)
	var tm activities.TailMessage
	for tm.Event != activities.TailEventError {
		m := c.read()
		require.Equal(t, hub.TypeUpdate, m.Type)
		require.Equal(t, topic, m.Topic)
		require.NoError(t, json.Unmarshal(m.Data, &tm))
		require.Empty(t, tm.Lines, "the docker client's complaint is not a log line")
	}
	require.Contains(t, tm.Message, "not found")
	require.Eventually(t, func() bool {
		d, err := s.TC.DescribeWorkflowExecution(context.Background(), workflows.LogTailWorkflowID(dev.ID.String(), topic), "")
		return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
	}, time.Minute, 200*time.Millisecond, "the tail of an unknown container kept retrying")
}
