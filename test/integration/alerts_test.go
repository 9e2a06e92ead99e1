package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/notify"
)

// gotifyReceiver implements Gotify's message API (POST /message, X-Gotify-Key, 401 on a bad key). While down > 0
// it answers 503 and counts down, as a server that is restarting would.
type gotifyReceiver struct {
	mu       sync.Mutex
	key      string
	down     int
	refused  int
	messages []map[string]any
}

func (g *gotifyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/message" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("X-Gotify-Key") != g.key {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"Unauthorized","errorCode":401}`)
		return
	}
	if g.down > 0 {
		g.down--
		g.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.messages = append(g.messages, m)
	_, _ = io.WriteString(w, `{"id":1}`)
}

func (g *gotifyReceiver) titles() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, m := range g.messages {
		out = append(out, m["title"].(string))
	}
	return out
}

// webhookReceiver accepts only requests whose HMAC signature verifies.
type webhookReceiver struct {
	mu       sync.Mutex
	secret   string
	bad      int
	messages []notify.Message
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify(h.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.bad++
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var m notify.Message
	if err := json.Unmarshal(body, &m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.messages = append(h.messages, m)
}

func (h *webhookReceiver) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.messages {
		out = append(out, m.Kind)
	}
	return out
}

type alertView struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Subject  string `json:"subject"`
	Severity string `json:"severity"`
	State    string `json:"state"`
	Notices  int    `json:"notices"`
}

// onlyRules leaves only the named built-in rules enabled, so the test machine's own disk or CPU cannot fire.
func (s *stack) onlyRules(names ...string) {
	s.t.Helper()
	var rules struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", "/api/v1/alert-rules", nil, &rules))
	for _, r := range rules.Items {
		keep := false
		for _, n := range names {
			keep = keep || r.Name == n
		}
		require.Equal(s.t, 200, s.do("PATCH", "/api/v1/alert-rules/"+r.ID, map[string]any{"enabled": keep}, nil))
	}
}

func (s *stack) alerts(query string) []alertView {
	s.t.Helper()
	var out struct {
		Items []alertView `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", "/api/v1/alerts"+query, nil, &out))
	return out.Items
}

// TestContainerAlertThroughOutage: a real container dies with a non-zero code → the alert fires and a
// notification reaches Gotify (down for its first attempts) and a signed webhook exactly once; the container is
// started again → the alert resolves and the resolved notice follows, in order, once.
func TestContainerAlertThroughOutage(t *testing.T) {
	s, dev, _ := newDockerDevice(t, true)
	s.onlyRules("container-exited-nonzero")

	gotify := &gotifyReceiver{key: "app-token-123", down: 3}
	gsrv := httptest.NewServer(gotify)
	t.Cleanup(gsrv.Close)
	hook := &webhookReceiver{secret: "hmac-secret-456"}
	hsrv := httptest.NewServer(hook)
	t.Cleanup(hsrv.Close)
	var gch, hch struct {
		ID string `json:"id"`
	}
	require.Equal(t, 201, s.do("POST", "/api/v1/notification-channels", map[string]any{"name": "gotify", "type": "gotify",
		"url": gsrv.URL, "token": gotify.key}, &gch))
	require.Equal(t, 201, s.do("POST", "/api/v1/notification-channels", map[string]any{"name": "hook", "type": "webhook",
		"url": hsrv.URL + "/infra", "secret": hook.secret}, &hch))

	// Exits 3 on its first run; runs on once started again (its filesystem keeps the flag).
	name := dev.container(t, "dies", true, `if [ -e /ran ]; then `+loop+`; else touch /ran; sleep 1; exit 3; fi`)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		firing := s.alerts("?state=firing")
		if assert.Len(c, firing, 1) {
			assert.Equal(c, "container-exited-nonzero", firing[0].Rule)
			assert.Equal(c, name, firing[0].Subject)
			assert.Equal(c, "critical", firing[0].Severity)
		}
	}, time.Minute, 500*time.Millisecond, "the alert fires")

	// Gotify refuses the first three attempts (back-off 5 s, 10 s, 20 s), then takes the notice once.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, gotify.titles(), 1)
		assert.Equal(c, []string{"firing"}, hook.kinds())
	}, 2*time.Minute, 500*time.Millisecond, "the firing notice arrives after the outage")
	require.Contains(t, gotify.titles()[0], "FIRING critical")
	require.Contains(t, gotify.titles()[0], name)
	require.Equal(t, 3, gotify.refused)
	require.Zero(t, hook.bad)

	dev.engine.Docker(t, "start", name)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Empty(c, s.alerts("?state=firing"))
		resolved := s.alerts("?state=resolved")
		assert.Len(c, resolved, 1)
	}, time.Minute, 500*time.Millisecond, "the alert resolves")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, gotify.titles(), 2)
		assert.Equal(c, []string{"firing", "resolved"}, hook.kinds())
	}, time.Minute, 500*time.Millisecond, "the resolved notice follows")
	require.Contains(t, gotify.titles()[1], "RESOLVED")

	// More polls: nothing fires or is sent again.
	for i := 0; i < 2; i++ {
		require.Equal(t, 200, s.do("POST", "/api/v1/devices/"+dev.id.String()+"/poll", nil, nil))
	}
	require.Len(t, gotify.titles(), 2)
	require.Len(t, hook.kinds(), 2)
	require.Len(t, s.alerts(""), 1)

	var deliveries struct {
		Items []struct {
			Kind     string `json:"kind"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"items"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/notification-deliveries?channel_id="+gch.ID, nil, &deliveries))
	require.Len(t, deliveries.Items, 2)
	require.Equal(t, "resolved", deliveries.Items[0].Kind)
	require.Equal(t, "firing", deliveries.Items[1].Kind)
	require.Equal(t, "sent", deliveries.Items[1].State)
	require.Equal(t, 4, deliveries.Items[1].Attempts, "three refused attempts and the one that landed")

	// Test-send: a good channel gets it; a wrong token is rejected for good (401) and not retried.
	var d struct {
		State     string `json:"state"`
		LastError string `json:"last_error"`
		Attempts  int    `json:"attempts"`
	}
	require.Equal(t, 200, s.do("POST", "/api/v1/notification-channels/"+gch.ID+"/test", nil, &d))
	require.Equal(t, "sent", d.State)
	require.Len(t, gotify.titles(), 3)
	var bad struct {
		ID string `json:"id"`
	}
	require.Equal(t, 201, s.do("POST", "/api/v1/notification-channels", map[string]any{"name": "wrong-key", "type": "gotify",
		"url": gsrv.URL, "token": "not-the-key"}, &bad))
	require.Equal(t, 200, s.do("POST", "/api/v1/notification-channels/"+bad.ID+"/test", nil, &d))
	require.Equal(t, "failed", d.State)
	require.Contains(t, d.LastError, "401")
	require.Equal(t, 1, d.Attempts)
	require.False(t, strings.Contains(d.LastError, "not-the-key"), "the token never appears in errors")
}
