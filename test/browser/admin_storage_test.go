package browser

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/storagefake"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// receiver is a webhook endpoint that records what notification channels send it.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func fixture(t *testing.T, sub, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.FixturesDir(t), sub, name))
	require.NoError(t, err)
	s := string(b)
	if strings.HasPrefix(s, "TEST_TIMESTAMP=") {
		s = s[strings.IndexByte(s, '\n')+1:]
	}
	return s
}

// storageDevice is a device whose smartctl and zpool print recorded outputs (the stand-ins of the storage
// integration test): a failing NVMe drive, an ATA drive with pending sectors and a good one; a degraded pool and
// an online pool whose scrub runs and finishes.
//
// setPools(last, next) sets the pools with the last scrub finished on day last of February 2024, and the next scrub
// (`zpool scrub`) in progress for a few status calls and then finished on day next.
func storageDevice(t *testing.T) (fake *storagefake.Tools, sshd *testenv.SSHD, setPools func(last, next int)) {
	t.Helper()
	dir, err := os.MkdirTemp("", "infra-storage-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	fake = storagefake.Install(t, dir)
	ata := fixture(t, "smartctl", "scrutiny__smart-ata.json")
	fake.Set("scan.json", `{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[
		{"name":"/dev/sda","info_name":"/dev/sda [SAT]","type":"sat","protocol":"ATA"},
		{"name":"/dev/nvme0","info_name":"/dev/nvme0","type":"nvme","protocol":"NVMe"},
		{"name":"/dev/sdb","info_name":"/dev/sdb [SAT]","type":"sat","protocol":"ATA"}]}`)
	fake.SetDrive("/dev/sda", storagefake.WithATARaw(t, ata, 197, 8), 0)
	fake.SetDrive("/dev/nvme0", fixture(t, "smartctl", "smartctl_exporter__nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"), 8)
	fake.SetDrive("/dev/sdb", fixture(t, "smartctl", "scrutiny__smart-ata-full.json"), 0)
	fake.SetSelfTest("/dev/sda", storagefake.WithATARaw(t, ata, 197, 8), true)

	degraded := fixture(t, "zfs", "zpool-status-exporter__zpool-status.input-01-corrupted.txt")
	scrubbing := fixture(t, "zfs", "zpool-status-exporter__zpool-status.input-04-scrub-progress.txt")
	lines := strings.Split(scrubbing, "\n")
	var at int
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "scan:") {
			at = i
		}
	}
	with := func(scan string) string {
		return strings.Join(append(append(append([]string{}, lines[:at]...), scan), lines[at+3:]...), "\n")
	}
	finished := func(day int) string {
		return with(fmt.Sprintf("  scan: scrub repaired 0B in 00:35:40 with 0 errors on %s Feb %2d 12:30:00 2024",
			time.Date(2024, 2, day, 0, 0, 0, 0, time.UTC).Format("Mon"), day))
	}
	setPools = func(last, next int) {
		fake.SetPools(degraded+"\n"+finished(last), degraded+"\n"+scrubbing, degraded+"\n"+finished(next),
			"dummy\t1000\t500\t500\t5\t50\t1.00\tDEGRADED\nneptune\t1825189302108\t1551410906792\t273778395316\t10\t85\t1.00\tONLINE\n")
	}
	setPools(4, 11)
	fake.Set("datasets.txt", "neptune\t1551410906792\t273778395316\t98304\t1.00\t/neptune\n")
	sshd = testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv PATH=" + fake.Bin + ":/usr/local/bin:/usr/bin:/bin"}})
	return fake, sshd, setPools
}

// choose sets a select or an input (empty to clear it) and tells its form, as a person's change would.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	require.True(b.t, eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.value = %q;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === %q; })()`, sel, value, value)),
		"set %s to %s", sel, value)
}

// fieldError returns the message shown beside a form field.
func (b *browser) fieldError(form, field string) string {
	return eval[string](b, fmt.Sprintf(`document.querySelector('#%s [data-error-for="%s"]')?.textContent || ''`, form, field))
}

// TestAdminFormsAndStorage: an admin creates and edits an alert rule through its form (a bad field is named beside
// it), creates a notification channel and sends a test that reaches a real webhook receiver, creates and edits a
// maintenance window and a schedule and pauses, resumes and triggers it; the Drives and Pools pages and the device page show
// the verdicts of a device's recorded drives and pools with their reasons, and a self-test and a scrub run from the
// page after a confirmation and are followed to their end; a read token sees none of the forms or actions.
func TestAdminFormsAndStorage(t *testing.T) {
	chromiumPath(t)
	fake, sshd, setPools := storageDevice(t)
	d := startDashboard(t, teststack.WithSigners(sshd.ClientSigner), teststack.WithSSHTimeouts(5*time.Second, 60*time.Second),
		teststack.WithOpKinds(activities.ZFSScrubKind{Poll: 300 * time.Millisecond}, activities.SMARTSelfTestKind{Poll: 300 * time.Millisecond}))
	d.onlyRules()
	name := "nas-" + strings.ToLower(uuid.NewString()[:6])
	var dev struct {
		ID uuid.UUID `json:"id"`
	}
	require.Equal(t, 201, d.Do(t, "POST", "/api/v1/devices", map[string]any{"name": name, "host": sshd.Host, "port": sshd.Port,
		"user": sshd.User, "poll_interval": pollInterval.String(), "host_key_policy": "trust_first_use", "tags": []string{"storage"}}, &dev))
	id := dev.ID.String()
	hook := newReceiver(t)

	b := newBrowser(t)
	b.do(60*time.Second, chromedp.Navigate(d.Base+"/"))
	b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
	b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.Token), chromedp.Submit(chromedp.CSS("#token")))
	b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden`)

	t.Run("an alert rule: a bad field named beside it, created, listed and edited", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/admin/rules", "Alert rules")
		b.waitFor(30*time.Second, "the rule form", `document.querySelector('#rule-form #rule-form-name') !== null && document.querySelector('#rules-table') !== null`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#rule-form-name"), "bad name!"),
			chromedp.SendKeys(chromedp.CSS("#rule-form-warning"), "90"), chromedp.SendKeys(chromedp.CSS("#rule-form-critical"), "80"))
		b.click(`#rule-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the name's error beside it", `document.querySelector('#rule-form [data-error-for="name"]').textContent.includes('must be 1-63 characters')`)
		require.Contains(t, b.fieldError("rule-form", "warning"), "must not be above critical")
		require.Equal(t, "true", eval[string](b, `document.getElementById('rule-form-name').getAttribute('aria-invalid')`))
		require.Empty(t, b.fieldError("rule-form", "critical"), "only the bad fields are marked")
		b.shot("rule-form-error")
		b.accessible("rule form with errors")

		rule := "cpu-high-" + strings.ToLower(uuid.NewString()[:4])
		b.choose("#rule-form-name", "")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#rule-form-name"), rule))
		b.choose("#rule-form-warning", "70")
		b.choose("#rule-form-duration", "5m")
		b.choose("#rule-form-scope", "tag")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#rule-form-scope_tag"), "storage"))
		b.click(`#rule-form button[type="submit"]`)
		row := fmt.Sprintf(`#rules-table tr[data-name="%s"]`, rule)
		b.waitFor(30*time.Second, "the new rule listed", fmt.Sprintf(`document.querySelector('%s') !== null`, row))
		require.Empty(t, b.fieldError("rule-form", "name"), "a fresh form after the save")
		type ruleView struct {
			ID       string   `json:"id"`
			Name     string   `json:"name"`
			Kind     string   `json:"kind"`
			Metric   string   `json:"metric"`
			Warning  *float64 `json:"warning"`
			Critical *float64 `json:"critical"`
			Scope    string   `json:"scope"`
			ScopeTag string   `json:"scope_tag"`
			Duration string   `json:"duration"`
		}
		find := func() ruleView {
			var rules struct{ Items []ruleView }
			require.Equal(t, 200, d.Do(t, "GET", "/api/v1/alert-rules", nil, &rules))
			for _, r := range rules.Items {
				if r.Name == rule {
					return r
				}
			}
			t.Fatalf("rule %s not stored", rule)
			return ruleView{}
		}
		got := find()
		require.Equal(t, "metric", got.Kind)
		require.Equal(t, "cpu", got.Metric)
		require.Equal(t, 70.0, *got.Warning)
		require.Equal(t, 80.0, *got.Critical)
		require.Equal(t, "tag", got.Scope)
		require.Equal(t, "storage", got.ScopeTag)
		require.Equal(t, "5m0s", got.Duration)

		// Edit: the form fills with the rule; the change is saved in place.
		b.click(row + ` button[data-action="edit"]`)
		b.waitFor(10*time.Second, "the edit form", fmt.Sprintf(`document.getElementById('rule-form-name')?.value === %q`, rule))
		require.Equal(t, "80", eval[string](b, `document.getElementById('rule-form-critical').value`))
		b.choose("#rule-form-critical", "95")
		b.click(`#rule-form button[type="submit"]`)
		// The fifth cell is the critical threshold (the name is random and may hold "95" itself).
		b.waitFor(30*time.Second, "the saved rule", fmt.Sprintf(`document.querySelector('%s td:nth-child(5)')?.textContent === '95'`, row))
		got2 := find()
		require.Equal(t, got.ID, got2.ID)
		require.Equal(t, 95.0, *got2.Critical)
		require.Equal(t, 70.0, *got2.Warning)
		b.shot("admin-rules")
		b.accessible("alert rules")
		b.clean()
	})

	t.Run("a notification channel: created, and a test send reaches the receiver", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/admin/channels", "Notification channels")
		b.waitFor(30*time.Second, "the channel form", `document.querySelector('#channel-form-name') !== null`)
		ch := "ops-hook-" + strings.ToLower(uuid.NewString()[:4])
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#channel-form-name"), ch), chromedp.SendKeys(chromedp.CSS("#channel-form-url"), "ftp://"+hook.srv.Listener.Addr().String()))
		b.click(`#channel-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the url's error beside it", `document.querySelector('#channel-form [data-error-for="url"]').textContent.includes('http(s) URL')`)
		b.choose("#channel-form-url", "")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#channel-form-url"), hook.srv.URL+"/hook"))
		b.click(`#channel-form button[type="submit"]`)
		row := fmt.Sprintf(`#channels-table tr[data-name="%s"]`, ch)
		b.waitFor(30*time.Second, "the new channel listed", fmt.Sprintf(`document.querySelector('%s') !== null`, row))
		require.Empty(t, hook.received(), "nothing sent before the test")
		b.click(row + ` button[data-action="send-test"]`)
		b.waitFor(60*time.Second, "the test delivered", fmt.Sprintf(`document.querySelector('%s [data-test-result]')?.dataset.state === 'sent'`, row))
		bodies := hook.received()
		require.Len(t, bodies, 1)
		require.Contains(t, bodies[0], "test of the notification channel "+ch)
		b.shot("admin-channels")
		b.accessible("notification channels")
		b.clean()
	})

	t.Run("a maintenance window and a schedule: created, edited, paused, resumed, triggered", func(t *testing.T) {
		b := b.with(t)
		b.open(d.Base, "#/admin/windows", "Maintenance windows")
		b.waitFor(30*time.Second, "the window form", `document.querySelector('#window-form-name') !== null`)
		win := "nightly-" + strings.ToLower(uuid.NewString()[:4])
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#window-form-name"), win))
		b.choose("#window-form-device_id", id)
		b.choose("#window-form-start_time", "02:00")
		b.click(`#window-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the duration's error beside it", `document.querySelector('#window-form [data-error-for="duration"]').textContent.includes('between')`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#window-form-duration"), "2h"))
		b.click(`#window-form fieldset input[value="6"]`)
		b.click(`#window-form button[type="submit"]`)
		winRow := fmt.Sprintf(`#windows-table tr[data-name="%s"]`, win)
		b.waitFor(30*time.Second, "the new window listed", fmt.Sprintf(`document.querySelector('%s')?.textContent.includes('Sat at 02:00')`, winRow))

		// Edit (#14): the form fills with the window; a bad duration is named beside it; the change is saved in place.
		b.click(winRow + ` button[data-action="edit"]`)
		b.waitFor(10*time.Second, "the window's edit form", fmt.Sprintf(`document.getElementById('window-form-name')?.value === %q`, win))
		require.Equal(t, "02:00", eval[string](b, `document.getElementById('window-form-start_time').value`))
		require.Equal(t, id, eval[string](b, `document.getElementById('window-form-device_id').value`))
		require.True(t, eval[bool](b, `document.querySelector('#window-form fieldset input[value="6"]').checked`))
		b.choose("#window-form-duration", "two hours")
		b.click(`#window-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the duration's error beside it", `document.querySelector('#window-form [data-error-for="duration"]').textContent.includes('must be a duration')`)
		require.Equal(t, "true", eval[string](b, `document.getElementById('window-form-duration').getAttribute('aria-invalid')`))
		b.choose("#window-form-duration", "3h")
		b.choose("#window-form-start_time", "04:30")
		b.click(`#window-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the saved window", fmt.Sprintf(`document.querySelector('%s')?.textContent.includes('Sat at 04:30 for 3h0m0s')`, winRow))
		var windows struct {
			Items []struct {
				Name      string `json:"name"`
				StartTime string `json:"start_time"`
				Duration  string `json:"duration"`
				Weekdays  []int  `json:"weekdays"`
				DeviceID  string `json:"device_id"`
			}
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/maintenance-windows", nil, &windows))
		var named []int
		for i, w := range windows.Items {
			if w.Name == win {
				named = append(named, i)
			}
		}
		require.Len(t, named, 1, "edited in place")
		saved := windows.Items[named[0]]
		require.Equal(t, "04:30", saved.StartTime)
		require.Equal(t, "3h0m0s", saved.Duration)
		require.Equal(t, []int{6}, saved.Weekdays)
		require.Equal(t, id, saved.DeviceID)
		b.shot("admin-windows")
		b.accessible("maintenance windows")

		b.open(d.Base, "#/admin/schedules", "Schedules")
		b.waitFor(30*time.Second, "the schedule form", `document.querySelector('#schedule-form-name') !== null`)
		sch := "scrub-" + strings.ToLower(uuid.NewString()[:4])
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#schedule-form-name"), sch), chromedp.SendKeys(chromedp.CSS("#schedule-form-spec-cron"), "0 3 1 * *"))
		b.choose("#schedule-form-action-type", "zfs_scrub")
		b.choose("#schedule-form-action-device_id", id)
		b.choose("#schedule-form-action-pool", "")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#schedule-form-action-pool"), "no such;pool"))
		b.click(`#schedule-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the pool's error beside it", `document.querySelector('#schedule-form [data-error-for="action.pool"]').textContent.includes('pool name')`)
		b.choose("#schedule-form-action-pool", "")
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#schedule-form-action-pool"), "neptune"))
		b.click(`#schedule-form button[type="submit"]`)
		row := fmt.Sprintf(`#schedules-table tr[data-name="%s"]`, sch)
		b.waitFor(60*time.Second, "the new schedule listed", fmt.Sprintf(`document.querySelector('%s [data-paused="false"]') !== null`, row))
		require.Contains(t, eval[string](b, fmt.Sprintf(`document.querySelector('%s').textContent`, row)), "scrub neptune on "+name)
		b.click(row + ` button[data-action="pause"]`)
		b.waitFor(30*time.Second, "the schedule paused", fmt.Sprintf(`document.querySelector('%s [data-paused="true"]') !== null`, row))
		b.click(row + ` button[data-action="resume"]`)
		b.waitFor(30*time.Second, "the schedule resumed", fmt.Sprintf(`document.querySelector('%s [data-paused="false"]') !== null`, row))
		b.click(row + ` button[data-action="trigger"]`)
		b.waitFor(30*time.Second, "the trigger accepted", fmt.Sprintf(`document.getElementById('admin-message').textContent.startsWith(%q)`, sch+": triggered"))
		var list struct {
			Items []struct {
				ID, Name string
			}
		}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/schedules", nil, &list))
		var schID string
		for _, s := range list.Items {
			if s.Name == sch {
				schID = s.ID
			}
		}
		require.NotEmpty(t, schID)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var runs struct {
				Items []struct {
					FinishedAt *time.Time `json:"finished_at"`
				} `json:"items"`
			}
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/schedules/"+schID+"/runs", nil, &runs))
			if assert.NotEmpty(c, runs.Items) {
				assert.NotNil(c, runs.Items[0].FinishedAt)
			}
		}, 2*time.Minute, 500*time.Millisecond, "the triggered run finished")

		// Edit (#14): a cron expression Temporal refuses is named beside its field and changes nothing; an interval
		// is saved in place and Temporal's next runs follow it.
		b.click(row + ` button[data-action="edit"]`)
		b.waitFor(10*time.Second, "the schedule's edit form", fmt.Sprintf(`document.getElementById('schedule-form-name')?.value === %q`, sch))
		require.Equal(t, "0 3 1 * *", eval[string](b, `document.getElementById('schedule-form-spec-cron').value`))
		require.Equal(t, "neptune", eval[string](b, `document.getElementById('schedule-form-action-pool').value`))
		require.Equal(t, "zfs_scrub", eval[string](b, `document.getElementById('schedule-form-action-type').value`))
		b.choose("#schedule-form-spec-cron", "99 99 * * *")
		b.click(`#schedule-form button[type="submit"]`)
		b.waitFor(30*time.Second, "Temporal's refusal beside the cron field", `document.querySelector('#schedule-form [data-error-for="spec.cron"]').textContent.includes('Temporal rejected')`)
		type schedView struct {
			Spec struct {
				Cron, Every string
			}
			Action struct {
				Type, Pool string
			}
			Temporal struct {
				NextRuns []time.Time `json:"next_runs"`
			}
		}
		var sv schedView
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/schedules/"+schID, nil, &sv))
		require.Equal(t, "0 3 1 * *", sv.Spec.Cron, "a refused edit changed nothing")
		b.choose("#schedule-form-when", "every")
		b.choose("#schedule-form-spec-every", "45m")
		b.choose("#schedule-form-action-type", "image_prune")
		b.click(`#schedule-form button[type="submit"]`)
		b.waitFor(30*time.Second, "the saved schedule", fmt.Sprintf(`document.querySelector('%s')?.textContent.includes('every 45m')`, row))
		sv = schedView{}
		require.Equal(t, 200, d.Do(t, "GET", "/api/v1/schedules/"+schID, nil, &sv))
		require.Equal(t, "45m", sv.Spec.Every)
		require.Empty(t, sv.Spec.Cron)
		require.Equal(t, "image_prune", sv.Action.Type)
		require.Empty(t, sv.Action.Pool)
		require.GreaterOrEqual(t, len(sv.Temporal.NextRuns), 2)
		require.Equal(t, 45*time.Minute, sv.Temporal.NextRuns[1].Sub(sv.Temporal.NextRuns[0]))

		// The next run does the edited action: an image prune (an activity, no operation), not another scrub.
		scrubs := strings.Count(fake.Calls(), "zpool scrub neptune")
		b.click(row + ` button[data-action="trigger"]`)
		type outcome struct{ OperationID, State, Summary, Error string }
		var second []outcome
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var runs struct {
				Items []struct {
					FinishedAt *time.Time `json:"finished_at"`
					Result     []outcome  `json:"result"`
				} `json:"items"`
			}
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/schedules/"+schID+"/runs", nil, &runs))
			if assert.Len(c, runs.Items, 2) && assert.NotNil(c, runs.Items[0].FinishedAt) {
				second = runs.Items[0].Result
			}
		}, 2*time.Minute, 500*time.Millisecond, "the second run finished")
		t.Logf("the run after the edit: %+v", second)
		require.Len(t, second, 1)
		require.Empty(t, second[0].OperationID, "an image prune, not a scrub operation: %+v", second[0])
		require.NotEmpty(t, second[0].Summary+second[0].Error)
		require.Equal(t, scrubs, strings.Count(fake.Calls(), "zpool scrub neptune"), "no scrub ran")
		b.shot("admin-schedules")
		b.accessible("schedules")
		b.clean()
	})

	t.Run("drives and pools: verdicts and reasons, a self-test and a scrub followed to their end", func(t *testing.T) {
		b := b.with(t)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var out struct {
				Drives []any `json:"drives"`
			}
			var pools struct {
				Pools []any `json:"pools"`
			}
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/drives?device_id="+id, nil, &out))
			assert.Len(c, out.Drives, 3)
			assert.Equal(c, 200, d.Do(t, "GET", "/api/v1/devices/"+id+"/zfs/pools", nil, &pools))
			assert.Len(c, pools.Pools, 2)
		}, 3*time.Minute, time.Second, "the first drive and pool collection")

		b.open(d.Base, "#/drives", "Drives")
		b.waitFor(30*time.Second, "the drives", `document.querySelectorAll('#drives-table tbody tr').length === 3`)
		require.Equal(t, "failing", eval[string](b, `document.querySelector('#drives-table tbody tr').dataset.health`), "worst first")
		require.Equal(t, "3 drives: 1 failing, 1 warning, 1 ok.", eval[string](b, `document.getElementById('storage-summary').textContent`))
		sda := `#drives-table tr[data-health="warning"]`
		require.Contains(t, eval[string](b, fmt.Sprintf(`document.querySelector(%q)?.textContent || ''`, sda+" ul.reasons")), "8 pending sectors")
		b.shot("drives")
		b.accessible("drives")
		serial := eval[string](b, fmt.Sprintf(`document.querySelector(%q).dataset.serial`, sda))
		b.click(sda + ` button[data-selftest="short"]`)
		text := b.confirm()
		require.Contains(t, text, serial)
		require.Contains(t, text, "/dev/sda")
		b.waitFor(2*time.Minute, "the self-test succeeded", `[...document.querySelectorAll('#storage-ops .op')].some((e) => e.dataset.state === 'succeeded')`)
		require.Contains(t, eval[string](b, `document.querySelector('#storage-ops .op').textContent`), "passed")
		require.Contains(t, fake.Calls(), "smartctl -t short -d sat /dev/sda")
		b.shot("drive-selftest")

		// The filter narrows to one verdict.
		b.choose("#storage-health", "failing")
		b.waitFor(10*time.Second, "only the failing drive", `document.querySelectorAll('#drives-table tbody tr').length === 1`)

		b.open(d.Base, "#/pools", "Pools")
		b.waitFor(30*time.Second, "the pools", `document.querySelectorAll('#pools-table tbody tr').length === 2`)
		require.Equal(t, "dummy", eval[string](b, `document.querySelector('#pools-table tbody tr').dataset.pool`), "worst first")
		require.Equal(t, "DEGRADED", eval[string](b, `document.querySelector('#pools-table tr[data-pool="dummy"]').dataset.state`))
		require.NotEmpty(t, eval[string](b, `document.querySelector('#pools-table tr[data-pool="dummy"] ul.reasons')?.textContent || ''`), "the verdict's reasons")
		b.shot("pools")
		b.accessible("pools")
		setPools(11, 12) // as the scheduled scrub left the pool; this one finishes a day later
		b.click(`#pools-table tr[data-pool="neptune"] button[data-scrub]`)
		require.Contains(t, b.confirm(), "neptune")
		b.waitFor(2*time.Minute, "the scrub succeeded", `[...document.querySelectorAll('#storage-ops .op')].some((e) => e.dataset.state === 'succeeded' && e.textContent.includes('neptune'))`)
		require.Contains(t, eval[string](b, `document.querySelector('#storage-ops .op').textContent`), "scrub of neptune finished")
		require.Contains(t, fake.Calls(), "zpool scrub neptune")
		b.shot("pool-scrub")

		// The device page has the same, for this device.
		b.open(d.Base, "#/devices/"+id, name)
		b.waitFor(60*time.Second, "the device's drives and pools", `document.querySelectorAll('#device-storage #drives-table tbody tr').length === 3 &&
			document.querySelectorAll('#device-storage #pools-table tbody tr').length === 2`)
		require.EqualValues(t, 6, eval[int](b, `document.querySelectorAll('#device-storage button[data-selftest]').length`), "two tests for each of the three readable drives")
		b.shot("device-storage")
		b.accessible("device with drives and pools")
		b.clean()
	})

	t.Run("a read token sees no forms and no storage actions", func(t *testing.T) {
		b := b.with(t)
		b.click("#signout")
		b.waitFor(30*time.Second, "the sign-in form", `!document.getElementById('signin').hidden`)
		b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), d.ReadToken), chromedp.Submit(chromedp.CSS("#token")))
		b.waitFor(30*time.Second, "the signed-in page", `!document.getElementById('nav').hidden`)
		for _, p := range []struct{ route, heading, sel string }{
			{"#/admin/rules", "Alert rules", "#rules-table"}, {"#/admin/windows", "Maintenance windows", "#windows-table"},
			{"#/admin/schedules", "Schedules", "#schedules-table"}, {"#/drives", "Drives", "#drives-table"}, {"#/pools", "Pools", "#pools-table"},
		} {
			b.open(d.Base, p.route, p.heading)
			b.waitFor(30*time.Second, p.heading+" listed", fmt.Sprintf(`document.querySelector(%q) !== null`, p.sel))
			require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#page form, #page button').length`), "forms or buttons on %s", p.heading)
		}
		b.open(d.Base, "#/devices/"+id, name)
		b.waitFor(60*time.Second, "the device's drives", `document.querySelector('#device-storage #drives-table') !== null`)
		require.EqualValues(t, 0, eval[int](b, `document.querySelectorAll('#device-storage button').length`))
		require.False(t, eval[bool](b, `[...document.querySelectorAll('#nav a')].some((a) => a.textContent === 'Channels')`))
		b.clean()
	})
}
