package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// logDevice is a test device with systemd's "booted" mark and the fake systemctl, and a /var/log/syslog of its
// own (its sshd runs in a private mount namespace with tmpfs over /run and /var/log, so the machine's own are
// untouched and no journal files are visible: the system log search answers from the syslog file).
type logDevice struct {
	sshd *testenv.SSHD
	*testenv.FakeSystemd
}

func startLogDevice(t *testing.T, syslog string) *logDevice {
	t.Helper()
	fake := testenv.NewFakeSystemd(t, testenv.FakeUnit{Name: "web.service", Active: "active"},
		testenv.FakeUnit{Name: "backup.service", Active: "failed", Restarts: 3})
	dir, err := os.MkdirTemp("", "fake-syslog-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	logFile := filepath.Join(dir, "syslog")
	require.NoError(t, os.WriteFile(logFile, []byte(syslog), 0o644))
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{
		Launcher: []string{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
			`mount -t tmpfs -o mode=0755 infra-test-run /run && mkdir -p /run/sshd /run/systemd/system && ` +
				`mount -t tmpfs -o mode=0755 infra-test-log /var/log && cp "$0" /var/log/syslog && chmod 0644 /var/log/syslog && exec "$@"`, logFile},
		ExtraConfig: []string{"SetEnv PATH=" + fake.Bin + ":/usr/local/bin:/usr/bin:/bin"},
	})
	return &logDevice{sshd: sshd, FakeSystemd: fake}
}

// syslogLines writes n lines in rsyslog's high-precision format ending now, each about 110 bytes, with one
// "needle" line among them.
func syslogLines(n int) string {
	var b strings.Builder
	now := time.Now()
	for i := range n {
		at := now.Add(-time.Duration(n-i) * 100 * time.Millisecond).Format("2006-01-02T15:04:05.000000-07:00")
		msg := fmt.Sprintf("request %06d served in 12 ms from 10.0.0.7 with status 200 and nothing else of note", i)
		if i == n-50 {
			msg = "the needle: disk quota exceeded for /srv/backup"
		}
		fmt.Fprintf(&b, "%s lab-host app[%d]: %s\n", at, 1000+i%7, msg)
	}
	return b.String()
}

// TestServicesAndLogs: the Services page of a device lists its failed and watched units from the inventory
// collection, stops a unit after a confirmation and shows the operation's progress to success (the device's
// systemctl really was called), starts it again without one, reads the top processes from the device; a read
// token sees no service actions. The Logs page searches the device's syslog file, names a bad field, marks a result
// the device's size bound cut, and follows the log live over the WebSocket.
func TestServicesAndLogs(t *testing.T) {
	chromiumPath(t)
	// 50,000 lines of about 110 bytes: a search that reads them all (a priority filter, which a syslog file cannot
	// apply on the device) reaches the 4 MiB bound and is cut.
	dev := startLogDevice(t, syslogLines(50000))
	d := startDashboard(t, teststack.WithSigners(dev.sshd.ClientSigner), teststack.WithSSHTimeouts(5*time.Second, 60*time.Second))
	d.onlyRules("unit-failed", "watched-unit-inactive")
	name := "svc-" + strings.ToLower(uuid.NewString()[:6])
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	require.Equal(t, 201, d.Do(t, "POST", "/api/v1/devices", map[string]any{"name": name, "host": dev.sshd.Host, "port": dev.sshd.Port,
		"user": dev.sshd.User, "poll_interval": pollInterval.String(), "host_key_policy": "trust_first_use", "watched_units": []string{"web"}}, &created))
	id := created.ID.String()

	b := newBrowser(t)
	b.do(60*time.Second, chromedp.Navigate(d.Base+"/"))
	b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
	b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.Token), chromedp.Submit(chromedp.CSS("#token")))
	b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden`)

	t.Run("services: stop with confirmation, progress, start, top processes", func(t *testing.T) {
		b := b.with(t)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var v struct {
				Items []any `json:"items"`
			}
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/devices/"+id+"/services", nil, &v))
			assert.Len(c, v.Items, 2)
		}, 3*time.Minute, time.Second, "the first services collection")
		b.open(d.Base, "#/devices/"+id+"/services", "Services on "+name)
		web := `tr[data-unit="web.service"]`
		b.waitFor(30*time.Second, "web.service active", fmt.Sprintf(`document.querySelector('%s')?.dataset.active === 'active'`, web))
		// Worst first: the failed unit heads the table.
		require.Equal(t, "backup.service", eval[string](b, `document.querySelector('#services-table tbody tr').dataset.unit`))
		require.Contains(t, eval[string](b, `document.getElementById('systemd-state').textContent`), "1 failed unit")

		b.click(web + ` button[data-action="stop"]`)
		require.Contains(t, b.confirm(), "web.service")
		b.waitFor(2*time.Minute, "the stop operation succeeded",
			`[...document.querySelectorAll('#service-ops .op')].some((e) => e.dataset.state === 'succeeded' && e.textContent.includes('stop web.service'))`)
		require.Contains(t, dev.Calls(t), "stop web.service")
		b.shot("service-operation")
		// The next collection sees the unit inactive, and the page shows it live.
		require.Equal(t, 200, d.Do(t, "POST", "/api/v1/devices/"+id+"/poll", nil, nil))
		b.waitFor(2*time.Minute, "web.service inactive", fmt.Sprintf(`document.querySelector('%s')?.dataset.active === 'inactive'`, web))

		// Start is not destructive: no confirmation.
		b.click(web + ` button[data-action="start"]`)
		b.waitFor(2*time.Minute, "the start operation succeeded",
			`[...document.querySelectorAll('#service-ops .op')].some((e) => e.dataset.state === 'succeeded' && e.textContent.includes('start web.service'))`)
		require.False(t, eval[bool](b, `document.getElementById('confirm').open`))
		require.Contains(t, dev.Calls(t), "start web.service")

		b.do(30*time.Second, chromedp.SetValue(chromedp.CSS("#proc-sort"), "memory"))
		b.click(`#proc-form button[type="submit"]`)
		b.waitFor(2*time.Minute, "the top processes", `document.querySelectorAll('#processes-table tbody tr').length > 0 && document.getElementById('processes-source')?.textContent.includes('memory')`)
		b.shot("services")
		b.accessible("services")
		b.open(d.Base, "#/services", "Services")
		b.waitFor(60*time.Second, "the fleet's units", `document.querySelector('#services-table tr[data-unit="backup.service"]') !== null`)
		require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#services-table button').length`))
		b.shot("services-fleet")
		b.accessible("fleet services")
		b.clean()
	})

	t.Run("logs: search, a named bad field, a cut result, live tail", func(t *testing.T) {
		b := b.with(t)
		// The Logs entry of the navigation picks a device.
		b.open(d.Base, "#/logs", "Logs")
		b.waitFor(30*time.Second, "the device list", fmt.Sprintf(`document.querySelector('ul.picks a[href="#/devices/%s/logs"]') !== null`, id))
		b.accessible("logs index")
		b.click(fmt.Sprintf(`ul.picks a[href="#/devices/%s/logs"]`, id))
		b.waitFor(30*time.Second, "the device's logs page", fmt.Sprintf(`document.querySelector('#page h1')?.textContent === %q`, "Logs of "+name))
		b.waitFor(2*time.Minute, "the newest entries", `document.querySelectorAll('#log-table tbody tr').length === 200`)
		require.Contains(t, eval[string](b, `document.getElementById('logs-info').textContent`), "from syslog")
		require.False(t, eval[bool](b, `document.getElementById('logs-cut') !== null`), "a small answer is not marked cut")

		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#log-grep"), "NEEDLE"))
		b.click(`#log-form button[type="submit"]`)
		b.waitFor(2*time.Minute, "the one match", `document.querySelectorAll('#log-table tbody tr').length === 1 && document.querySelector('#log-table').textContent.includes('disk quota exceeded')`)
		b.shot("logs")
		b.accessible("logs")

		eval[bool](b, `(document.getElementById('log-grep').value = '') === ''`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#log-unit"), "bad;unit"))
		b.click(`#log-form button[type="submit"]`)
		b.waitFor(60*time.Second, "the named field", `document.getElementById('logs-error').textContent.includes('unit')`)

		eval[bool](b, `(document.getElementById('log-unit').value = '') === ''`)
		b.do(30*time.Second, chromedp.SetValue(chromedp.CSS("#log-priority"), "err"))
		b.click(`#log-form button[type="submit"]`)
		b.waitFor(2*time.Minute, "the cut result marked", `document.getElementById('logs-cut') !== null`)
		require.Contains(t, eval[string](b, `document.getElementById('logs-info').textContent`), "could not apply: priority")
		b.shot("logs-cut")

		// The live tail subscribes over the page's WebSocket and the server starts it (a watcher is recorded). This
		// device has no journal, so no lines follow; the tail's "started" marker is shown when it arrives after the
		// subscription took effect.
		eval[bool](b, `(document.getElementById('log-priority').value = '') === ''`)
		b.click(`#log-follow`)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var n int
			assert.NoError(c, d.DB.QueryRow(context.Background(), `SELECT count(*) FROM log_tail_watchers WHERE device_id = $1`, created.ID).Scan(&n))
			assert.Positive(c, n)
		}, time.Minute, 200*time.Millisecond, "the tail's watcher")
		b.waitFor(30*time.Second, "the tail following", `document.querySelector('#log-tail .tail-status')?.textContent.startsWith('Following live')`)
		require.False(t, eval[bool](b, `document.querySelector('#log-tail .tail-status.error') !== null`), "the tail was refused: %s",
			eval[string](b, `document.querySelector('#log-tail .tail-status')?.textContent || ''`))
		// The page's stream drops: once back, the tail is subscribed again and a gap marker says lines were missed.
		d.proxy.cut()
		b.waitFor(30*time.Second, "the lost stream", `document.body.dataset.stream === 'lost'`)
		d.proxy.restore()
		b.waitFor(60*time.Second, "the gap marker", `document.body.dataset.stream === 'live' && document.querySelector('#log-tail ol.tail li[data-event="gap"]') !== null`)
		b.shot("logs-live")
		b.accessible("logs with a live tail")
		b.click(`#log-follow`)
		b.waitFor(10*time.Second, "the tail stopped", `document.querySelector('#log-tail ol.tail') === null`)
		b.clean()
	})

	t.Run("a read token sees no service actions", func(t *testing.T) {
		b := b.with(t)
		b.click("#signout")
		b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.ReadToken), chromedp.Submit(chromedp.CSS("#token")))
		b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden`)
		b.open(d.Base, "#/devices/"+id+"/services", "Services on "+name)
		b.waitFor(30*time.Second, "the units", `document.querySelector('tr[data-unit="web.service"]') !== null`)
		require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#services-table button').length`))
		b.clean()
	})
}
