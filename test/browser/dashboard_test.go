package browser

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

const pollInterval = 5 * time.Second

// TestDashboard runs the operator's day in the dashboard, in order, on one stack: sign in with a pasted token, see a
// device come online and its CPU chart fill live, restart a container and watch the operation finish, acknowledge
// a firing alert, refuse forged requests, approve a changed host key, survive a lost live stream, and sign out and
// back in with a read token that sees no action buttons.
func TestDashboard(t *testing.T) {
	exe := chromiumPath(t)
	_ = exe
	engine := testenv.StartDocker(t)
	image := testenv.TestImage(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	d := startDashboard(t, teststack.WithSigners(sshd.ClientSigner), teststack.WithSSHTimeouts(5*time.Second, 30*time.Second))
	d.onlyRules("container-exited-nonzero")

	web := testenv.ContainerName(t, "web")
	engine.Docker(t, "run", "-d", "--name", web, "--network", "none", image, "sh", "-c", `trap "" TERM; while :; do echo tick; sleep 1; done`)
	t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", "-v", web) })
	devName := "docker-" + strings.ToLower(uuid.NewString()[:6])
	var dev struct {
		ID uuid.UUID `json:"id"`
	}
	require.Equal(t, 201, d.Do(t, "POST", "/api/v1/devices", map[string]any{"name": devName, "host": sshd.Host, "port": sshd.Port,
		"user": sshd.User, "poll_interval": pollInterval.String(), "host_key_policy": "trust_first_use", "tags": []string{"lab", "docker"}}, &dev))
	id := dev.ID.String()

	b := newBrowser(t)

	t.Run("sign in with a pasted token", func(t *testing.T) {
		b := b.with(t)
		b.do(60*time.Second, chromedp.Navigate(d.Base+"/"))
		b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
		b.shot("signin")
		b.accessible("sign-in")
		// A wrong token is refused with a message saying why.
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), "infra_not-a-real-token-0000000000000000000000"),
			chromedp.Submit(chromedp.CSS("#token")))
		b.waitFor(30*time.Second, "the refusal", `document.getElementById('signin-error').textContent.includes('not accepted')`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.Token), chromedp.Submit(chromedp.CSS("#token")))
		b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden && document.querySelector('#page h1')?.textContent === 'Fleet'`)
		require.Contains(t, eval[string](b, `document.getElementById('who-name').textContent`), "test-admin")

		// The session lives in an HttpOnly, SameSite=Strict cookie: no script can read it, and the page keeps no token.
		require.Empty(t, eval[string](b, `document.cookie`))
		require.EqualValues(t, 0, eval[int](b, `localStorage.length + sessionStorage.length`))
		require.NotContains(t, eval[string](b, `document.documentElement.outerHTML`), d.Token)
		c := b.sessionCookie()
		require.True(t, c.HTTPOnly, "HttpOnly")
		require.Equal(t, network.CookieSameSiteStrict, c.SameSite)
		require.NotEqual(t, d.Token, c.Value)
		b.clean()
	})

	t.Run("a device comes online and its CPU chart fills", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/", "Fleet")
		b.waitFor(2*time.Minute, "the device online in the fleet", fmt.Sprintf(`document.querySelector('tr[data-device="%s"]')?.dataset.status === 'online'`, id))
		b.waitFor(30*time.Second, "live updates", `document.body.dataset.stream === 'live'`)
		b.click(fmt.Sprintf(`tr[data-device="%s"] a`, id))
		b.waitFor(30*time.Second, "the device page", fmt.Sprintf(`document.querySelector('#page h1')?.textContent === %q`, devName))
		cpuPoints := `Number(document.querySelector('[data-metric="cpu"] .chart')?.dataset.points || 0)`
		b.waitFor(2*time.Minute, "the CPU chart with two points", cpuPoints+` >= 2`)
		// Without reloading, live metrics append to the chart.
		n := eval[int](b, cpuPoints)
		b.waitFor(90*time.Second, "the CPU chart growing live", fmt.Sprintf(`%s > %d`, cpuPoints, n))
		// Ranges switch to longer windows (rollups past a day).
		b.click(`.ranges button:nth-child(2)`)
		b.waitFor(30*time.Second, "the 24 h range", `document.querySelector('.ranges button[aria-pressed="true"]')?.textContent === '24 h'`)
		b.click(`.ranges button:nth-child(1)`)
		b.waitFor(30*time.Second, "the 1 h range", cpuPoints+` >= 2`)
		require.Contains(t, eval[string](b, `document.getElementById('temporal-link')?.href || ''`), "/workflows/device-poll/"+id)
		b.waitFor(30*time.Second, "the filesystems table", `document.querySelector('#filesystems table') !== null`)
		// One series per core: the test host's cores, by name.
		b.waitFor(90*time.Second, "the per-core CPU chart", `document.querySelector('[data-metric="cpu_cores"] .chart') !== null &&
			document.querySelector('[data-metric="cpu_cores"]').textContent.includes('cpu0 usage percent')`)
		b.shot("device")
		b.accessible("device")
		b.open(d.Base, "#/", "Fleet")
		b.waitFor(30*time.Second, "the sparkline", fmt.Sprintf(`document.querySelector('tr[data-device="%s"] .spark polyline') !== null`, id))
		b.shot("fleet")
		b.accessible("fleet")
		b.clean()
	})

	t.Run("restart a container and watch the operation finish", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/devices/"+id, devName)
		row := fmt.Sprintf(`tr[data-container="%s"]`, web)
		b.waitFor(90*time.Second, "the container running", fmt.Sprintf(`document.querySelector('%s')?.dataset.state === 'running'`, row))
		b.click(row + ` button[data-action="restart"]`)
		require.Contains(t, b.confirm(), web)
		b.waitFor(2*time.Minute, "the restart operation succeeded",
			`[...document.querySelectorAll('#operations .op')].some((e) => e.dataset.state === 'succeeded' && e.textContent.includes('restart'))`)
		b.shot("operation")
		// Its logs, fetched from the device on demand.
		b.click(fmt.Sprintf(`button[data-logs="%s"]`, web))
		b.waitFor(60*time.Second, "the container's logs", `document.querySelector('#logs pre')?.textContent.includes('tick')`)
		// Followed live over the page's WebSocket: new lines as the container prints them.
		// Clicked from the page: a live container update may redraw the table above it mid-click.
		b.waitFor(30*time.Second, "the follow button clicked", fmt.Sprintf(`document.querySelector('button[data-follow="%s"]')?.click() === undefined && document.querySelector('#logs ol.tail') !== null`, web))
		b.waitFor(60*time.Second, "live lines", `[...document.querySelectorAll('#logs ol.tail li[data-line]')].some((l) => l.textContent.includes('tick'))`)
		b.shot("container-live")
		b.click("#stop-follow")
		b.waitFor(10*time.Second, "the tail stopped", `document.querySelector('#logs ol.tail') === null`)
		b.accessible("device with an operation")
		var ops struct {
			Items []struct {
				Action, State, Target string
			} `json:"items"`
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/operations?device_id="+id, nil, &ops))
		require.NotEmpty(t, ops.Items)
		require.Equal(t, "restart", ops.Items[0].Action)
		require.Equal(t, "succeeded", ops.Items[0].State)
		b.open(d.Base, "#/operations", "Operations")
		b.waitFor(30*time.Second, "the operations list", `document.querySelector('.op[data-state="succeeded"]') !== null`)
		b.shot("operations")
		b.accessible("operations")
		b.open(d.Base, "#/containers", "Containers")
		b.waitFor(30*time.Second, "the containers list", fmt.Sprintf(`document.querySelector('%s') !== null`, row))
		b.shot("containers")
		b.accessible("containers")
		b.clean()
	})

	t.Run("an alert fires and is acknowledged", func(t *testing.T) {
		b := b.with(t)
		dies := testenv.ContainerName(t, "dies")
		engine.Docker(t, "run", "-d", "--name", dies, "--network", "none", image, "sh", "-c", "sleep 1; exit 3")
		t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", "-v", dies) })
		b.open(d.Base, "#/alerts", "Alerts")
		// The page learns of the alert live (it fires with an event), without a reload.
		sel := `document.querySelector('#alerts-table tr[data-state="firing"]')`
		b.waitFor(2*time.Minute, "the alert firing", sel+` !== null`)
		b.shot("alerts")
		b.accessible("alerts")
		b.click(`#alerts-table tr[data-state="firing"] button[aria-label^="Acknowledge"]`)
		b.waitFor(30*time.Second, "the acknowledgement", `document.querySelector('#alerts-table tr[data-state="firing"] td[data-ack="yes"]') !== null`)
		var alerts struct {
			Items []struct {
				State          string     `json:"state"`
				AcknowledgedAt *time.Time `json:"acknowledged_at"`
				AcknowledgedBy *string    `json:"acknowledged_by"`
			} `json:"items"`
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/alerts?state=firing", nil, &alerts))
		require.Len(t, alerts.Items, 1)
		require.NotNil(t, alerts.Items[0].AcknowledgedAt)
		b.clean()
	})

	t.Run("forged requests are refused", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/", "Fleet")
		// From the page itself, without the CSRF header: refused though the cookie is sent.
		res := eval[map[string]any](b, fmt.Sprintf(`fetch('/api/v1/devices/%s/poll', {method: 'POST'}).then(async (r) => ({status: r.status, body: await r.json()}))`, id))
		require.EqualValues(t, 403, res["status"], "%v", res)
		require.Contains(t, fmt.Sprint(res["body"]), "csrf_refused")
		csrf := eval[string](b, `fetch('/web/session').then((r) => r.json()).then((s) => s.csrf)`)
		require.NotEmpty(t, csrf)
		cookie := b.sessionCookie().Value
		post := func(origin, token string) int {
			req, err := http.NewRequest("POST", d.Base+"/api/v1/devices/"+id+"/poll", nil)
			require.NoError(t, err)
			req.Header.Set("Cookie", sessionCookieName+"="+cookie)
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			if token != "" {
				req.Header.Set("X-CSRF-Token", token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		require.Equal(t, 403, post("http://evil.example", csrf), "another site's origin with the right CSRF token")
		require.Equal(t, 403, post("", csrf), "no origin")
		require.Equal(t, 403, post(d.Base, "wrong"+csrf), "a wrong CSRF token")
		require.Equal(t, 200, post(d.Base, csrf), "this origin with the session's CSRF token")

		// The live stream takes the cookie only from this origin.
		wsURL := "ws" + strings.TrimPrefix(d.Base, "http") + "/ws"
		hdr := func(origin string) http.Header {
			h := http.Header{"Cookie": {sessionCookieName + "=" + cookie}}
			if origin != "" {
				h.Set("Origin", origin)
			}
			return h
		}
		for _, origin := range []string{"http://evil.example", ""} {
			conn, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr(origin))
			if err == nil {
				// Refused after the upgrade is as good as before it, as long as no welcome comes.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, msg, rerr := conn.ReadMessage()
				require.Error(t, rerr, "origin %q got %s", origin, msg)
				conn.Close()
				continue
			}
			require.NotNil(t, resp, "origin %q: %v", origin, err)
			require.Equal(t, 403, resp.StatusCode, "origin %q", origin)
		}
		conn, _, err := websocket.DefaultDialer.Dial(wsURL, hdr(d.Base))
		require.NoError(t, err)
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var welcome struct {
			Type string `json:"type"`
			Data struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		require.NoError(t, conn.ReadJSON(&welcome))
		require.Equal(t, "welcome", welcome.Type)
		require.Equal(t, "test-admin", welcome.Data.Token)
	})

	t.Run("an update while a page loads is not lost", func(t *testing.T) {
		b := b.with(t)
		// A device without a poll loop, so only the test changes its status.
		name := "quiet-" + strings.ToLower(uuid.NewString()[:6])
		var quiet struct {
			ID uuid.UUID `json:"id"`
		}
		require.Equal(t, 201, d.Do(t, "POST", "/api/v1/devices", map[string]any{"name": name, "host": "127.0.0.1", "port": 1,
			"user": "nobody", "enabled": false}, &quiet))
		// The page draws its heading first, then fetches its charts: held, they keep it loading while the status
		// changes and the change is published.
		release := b.holdRequests("*/metrics?metric=*")
		b.do(60*time.Second, chromedp.Navigate(d.Base+"/#/devices/"+quiet.ID.String()))
		b.waitFor(60*time.Second, "the device's heading", fmt.Sprintf(`document.querySelector('#page h1')?.textContent === %q`, name))
		_, err := store.SetDeviceStatus(context.Background(), d.DB, quiet.ID, store.StatusOffline, "changed while the page loaded", nil)
		require.NoError(t, err)
		time.Sleep(3 * time.Second) // for the update to reach the page while it still loads
		release()
		b.waitFor(60*time.Second, "the status changed while the page loaded",
			`document.getElementById('device-status').textContent.includes('changed while the page loaded')`)
		b.clean()
	})

	t.Run("approve a changed host key", func(t *testing.T) {
		b := b.with(t)
		sshd.RotateHostKey()
		d.SSH.Drop(id) // the pooled connection to the old server would otherwise live on
		fp := ssh.FingerprintSHA256(sshd.HostKey)
		b.open(d.Base, "#/devices/"+id, devName)
		b.waitFor(2*time.Minute, "the device blocked with a pending key", `document.querySelector('#host-keys tr[data-state="pending"] button') !== null`)
		b.waitFor(2*time.Minute, "the device shown blocked", `document.getElementById('device-status').textContent.includes('blocked')`)
		b.shot("hostkey")
		b.accessible("host key")
		b.click(`#host-keys tr[data-state="pending"] button`)
		require.Contains(t, b.confirm(), fp, "the dialog shows the fingerprint being approved")
		b.waitFor(60*time.Second, "the key approved", fmt.Sprintf(
			`[...document.querySelectorAll('#host-keys tr[data-state="approved"] .fp')].some((e) => e.textContent === %q)`, fp))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var dv struct{ Status string }
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/devices/"+id, nil, &dv))
			assert.Equal(c, "online", dv.Status)
		}, 2*time.Minute, 500*time.Millisecond, "the device online again")
		b.waitFor(60*time.Second, "the page showing it online", `document.getElementById('device-status').textContent.includes('online')`)
		b.clean()
	})

	t.Run("the live stream drops and the page recovers", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/", "Fleet")
		b.waitFor(30*time.Second, "live updates", `document.body.dataset.stream === 'live'`)
		d.proxy.cut()
		defer d.proxy.restore() // also when a check below fails: later subtests need the server
		b.waitFor(30*time.Second, "the lost-stream banner", `document.body.dataset.stream === 'lost' && !document.getElementById('stream').hidden`)
		require.Contains(t, eval[string](b, `document.getElementById('stream').textContent`), "reconnecting")
		b.shot("stream-lost")
		b.accessible("lost stream")
		// A device added while the page is cut off appears once the stream is back: the page refetches.
		late := "late-" + strings.ToLower(uuid.NewString()[:6])
		require.Equal(t, 201, d.Do(t, "POST", "/api/v1/devices", map[string]any{"name": late, "host": "127.0.0.1", "port": 1,
			"user": "nobody", "enabled": false}, nil))
		d.proxy.restore()
		b.waitFor(60*time.Second, "the stream back", `document.body.dataset.stream === 'live' && document.getElementById('stream').hidden`)
		b.waitFor(30*time.Second, "the resynchronised fleet", fmt.Sprintf(
			`[...document.querySelectorAll('#fleet-table a')].some((a) => a.textContent === %q)`, late))
	})

	t.Run("the admin pages", func(t *testing.T) {
		b := b.with(t)
		for _, p := range []struct{ route, heading, shot string }{
			{"#/admin/rules", "Alert rules", "rules"}, {"#/admin/channels", "Notification channels", "channels"},
			{"#/admin/windows", "Maintenance windows", "windows"}, {"#/admin/schedules", "Schedules", "schedules"},
			{"#/admin/tokens", "Tokens", "tokens"}, {"#/admin/audit", "Audit log", "audit"}, {"#/drives", "Drives", "drives-empty"},
			{"#/updates", "Updates", "updates"},
		} {
			b.open(d.Base, p.route, p.heading)
			b.waitFor(30*time.Second, p.heading+" loaded", `document.querySelector('#page table, #page .empty') !== null`)
			b.shot(p.shot)
			b.accessible(p.heading)
		}
		// Package updates (GET /updates) head the Updates page: a table of devices with updates, or says there are none.
		b.open(d.Base, "#/updates", "Updates")
		b.waitFor(60*time.Second, "the package updates", `document.querySelector('#package-updates table, #package-updates .empty') !== null && document.getElementById('pkg-totals') !== null`)
		// An admin adds a device and creates a token from the browser.
		b.open(d.Base, "#/", "Fleet")
		added := "added-" + strings.ToLower(uuid.NewString()[:6])
		b.waitFor(30*time.Second, "the fleet table", `document.querySelector('#fleet-table') !== null`)
		b.click("#add-device-summary")
		b.waitFor(10*time.Second, "the add-device form open", `document.getElementById('add-name')?.offsetParent !== null`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#add-name"), added), chromedp.SendKeys(chromedp.CSS("#add-host"), "127.0.0.1"),
			chromedp.SendKeys(chromedp.CSS("#add-port"), "1"), chromedp.Click(chromedp.CSS(`#add-device button[type="submit"]`)))
		b.waitFor(60*time.Second, "the new device's page", fmt.Sprintf(`document.querySelector('#page h1')?.textContent === %q`, added))
		b.open(d.Base, "#/admin/tokens", "Tokens")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS(`#new-token-form input[name="name"]`), "made-in-browser"),
			chromedp.Click(chromedp.CSS(`#new-token-form button[type="submit"]`)))
		b.waitFor(30*time.Second, "the new token shown once", `document.getElementById('new-token').textContent.includes('not shown again')`)
		var toks struct {
			Items []struct{ Name string } `json:"items"`
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/tokens", nil, &toks))
		require.Contains(t, fmt.Sprint(toks.Items), "made-in-browser")

		// The audit log shows the dashboard's own sign-in.
		b.open(d.Base, "#/admin/audit", "Audit log")
		b.waitFor(30*time.Second, "the sign-in in the audit log", `document.querySelector('#page table')?.textContent.includes('session.create')`)
		b.clean()
	})

	t.Run("on a phone", func(t *testing.T) {
		b := b.with(t)
		b.do(30*time.Second, chromedp.EmulateViewport(390, 844))
		defer b.do(30*time.Second, chromedp.EmulateReset())
		for _, p := range []struct{ route, heading, shot string }{{"#/", "Fleet", "phone-fleet"}, {"#/devices/" + id, devName, "phone-device"}} {
			b.open(d.Base, p.route, p.heading)
			b.waitFor(30*time.Second, p.heading+" loaded", `document.querySelector('#page table') !== null`)
			// Wide tables scroll inside their own box; the page itself never scrolls sideways.
			require.LessOrEqual(t, eval[int](b, `document.documentElement.scrollWidth`), 390, "the %s page scrolls sideways: %s", p.heading,
				eval[string](b, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 392 && e.parentElement.getBoundingClientRect().right <= 392)
					.slice(0, 8).map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`))
			b.shot(p.shot)
		}
		b.clean()
	})

	t.Run("a read token sees no action buttons and the server refuses its changes", func(t *testing.T) {
		b := b.with(t)
		old := b.sessionCookie().Value
		b.click("#signout")
		b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
		// Signing out revoked the session on the server, not only in this browser.
		req, err := http.NewRequest("GET", d.Base+"/api/v1/devices", nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", sessionCookieName+"="+old)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 401, resp.StatusCode)

		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.ReadToken), chromedp.Submit(chromedp.CSS("#token")))
		b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden`)
		require.Equal(t, "read", eval[string](b, `document.body.dataset.scopes`))
		b.open(d.Base, "#/devices/"+id, devName)
		b.waitFor(60*time.Second, "the containers", fmt.Sprintf(`document.querySelector('tr[data-container="%s"]') !== null`, web))
		require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#page button:not(.ranges button):not([data-logs])').length`),
			"no action buttons for a read token")
		b.shot("read-only")
		b.accessible("read-only device")
		b.open(d.Base, "#/alerts", "Alerts")
		b.waitFor(30*time.Second, "the alerts", `document.querySelector('#alerts-table') !== null`)
		require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#page button').length`))
		require.False(t, eval[bool](b, `[...document.querySelectorAll('#nav a')].some((a) => a.textContent === 'Tokens' || a.textContent === 'Audit')`))
		// With a valid CSRF token the server still refuses what the scope does not allow.
		res := eval[map[string]any](b, fmt.Sprintf(`fetch('/web/session').then((r) => r.json()).then((s) => fetch('/api/v1/devices/%s/poll',
			{method: 'POST', headers: {'X-CSRF-Token': s.csrf}})).then(async (r) => ({status: r.status, body: await r.json()}))`, id))
		require.EqualValues(t, 403, res["status"], "%v", res)
		require.Contains(t, fmt.Sprint(res["body"]), "scope")
		b.clean()

		// Revoking the token ends its sessions at once: the live stream is closed and the page asks to sign in.
		var toks struct {
			Items []struct{ ID, Name string } `json:"items"`
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/tokens", nil, &toks))
		for _, tok := range toks.Items {
			if tok.Name == "test-read" {
				require.Equal(t, 200, d.Do(t, "DELETE", "/api/v1/tokens/"+tok.ID, nil, nil))
			}
		}
		b.waitFor(60*time.Second, "the sign-in form after the token was revoked", `!document.getElementById('signin').hidden`)
	})
}

const sessionCookieName = "infra_session"

// with returns the browser for a subtest, failing that subtest.
func (b *browser) with(t *testing.T) *browser { c := *b; c.t = t; return &c }

// sessionCookie returns the dashboard's session cookie as the browser holds it.
func (b *browser) sessionCookie() *network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	require.NoError(b.t, err)
	for _, c := range res.Cookies {
		if c.Name == sessionCookieName {
			return c
		}
	}
	b.t.Fatalf("no %s cookie in the browser", sessionCookieName)
	return nil
}

// onlyRules leaves only the named built-in alert rules enabled, so the test machine's own load cannot fire one.
func (d *dashboard) onlyRules(names ...string) {
	d.t.Helper()
	var rules struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	require.Equal(d.t, 200, d.Do(d.t, "GET", "/api/v1/alert-rules", nil, &rules))
	for _, r := range rules.Items {
		keep := false
		for _, n := range names {
			keep = keep || r.Name == n
		}
		require.Equal(d.t, 200, d.Do(d.t, "PATCH", "/api/v1/alert-rules/"+r.ID, map[string]any{"enabled": keep}, nil))
	}
}
