package integration

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// evalEnv runs the EvaluateAlerts and DeliverNotification activities directly against a real, migrated
// PostgreSQL with a clock the test moves.
type evalEnv struct {
	t    *testing.T
	db   *pgxpool.Pool
	acts *activities.Activities
	mu   sync.Mutex
	base time.Time
	now  time.Time
	dev  *store.Device
	// lost drops the notices' workflow starts, as a lost activity result would.
	lost bool
}

func newEvalEnv(t *testing.T) *evalEnv {
	t.Helper()
	ctx := context.Background()
	db := testdb.Pool(t)
	base := time.Now().UTC().Truncate(time.Second)
	e := &evalEnv{t: t, db: db, base: base, now: base}
	// The test receivers listen on 127.0.0.1, which only INFRA_NOTIFY_ALLOW_LOOPBACK admits.
	e.acts = &activities.Activities{DB: db, Now: e.clock, Notify: &notify.Sender{Targets: notify.Targets{AllowLoopback: true}}}
	var err error
	e.dev, err = store.CreateDevice(ctx, db, &store.Device{Name: "nas", Host: "192.0.2.1", Port: 22, User: "root",
		DeviceType: "linux", Tags: []string{"home"}, PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: "require_approval"})
	require.NoError(t, err)
	// Only the CPU, offline and host-key rules: the others read what this test does not write.
	_, err = db.Exec(ctx, `UPDATE alert_rules SET enabled = name IN ('cpu', 'device-offline', 'host-key-blocked')`)
	require.NoError(t, err)
	return e
}

func (e *evalEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// at is a time relative to the start of the test.
func (e *evalEnv) at(d time.Duration) time.Time { return e.base.Add(d) }

func (e *evalEnv) set(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = t
}

// poll records a successful poll with this CPU figure at t and evaluates.
func (e *evalEnv) poll(t time.Time, cpu float64) *activities.EvaluateAlertsResult {
	e.t.Helper()
	ctx := context.Background()
	e.set(t)
	_, err := e.db.Exec(ctx, `INSERT INTO system_metrics (device_id, time, cpu_pct, mem_total, mem_used) VALUES ($1,$2,$3,100,10)
		ON CONFLICT DO NOTHING`, e.dev.ID, t, cpu)
	require.NoError(e.t, err)
	_, err = e.db.Exec(ctx, `UPDATE devices SET last_seen = $2, status = 'online' WHERE id = $1`, e.dev.ID, t)
	require.NoError(e.t, err)
	res, err := e.acts.EvaluateAlerts(ctx, activities.EvaluateAlertsInput{DeviceID: e.dev.ID.String(), Collected: t})
	require.NoError(e.t, err)
	e.dispatch(res)
	return res
}

// dispatch stands in for the Notify workflows: their first attempt marks each delivery as taken up, so the
// next evaluations do not hand it out again.
func (e *evalEnv) dispatch(res *activities.EvaluateAlertsResult) {
	e.t.Helper()
	if e.lost {
		return
	}
	for _, n := range res.Notices {
		_, err := e.db.Exec(context.Background(), `UPDATE notification_deliveries SET attempts = attempts + 1 WHERE id = ANY($1)`, n.DeliveryIDs)
		require.NoError(e.t, err)
	}
}

func (e *evalEnv) failedPoll(t time.Time, errType string) *activities.EvaluateAlertsResult {
	e.t.Helper()
	e.set(t)
	res, err := e.acts.EvaluateAlerts(context.Background(), activities.EvaluateAlertsInput{DeviceID: e.dev.ID.String(), ErrorType: errType})
	require.NoError(e.t, err)
	e.dispatch(res)
	return res
}

func (e *evalEnv) alerts(state string) []*store.Alert {
	e.t.Helper()
	since := time.Time{}
	out, _, err := store.ListAlerts(context.Background(), e.db, store.AlertFilter{State: state, Since: &since, Limit: 100})
	require.NoError(e.t, err)
	return out
}

func (e *evalEnv) channel(name, minSeverity string, rate int) *store.Channel {
	e.t.Helper()
	c, err := store.CreateChannel(context.Background(), e.db, &store.Channel{Name: name, Type: "webhook", URL: "http://127.0.0.1:1/",
		MinSeverity: minSeverity, Enabled: true, RatePerMinute: rate})
	require.NoError(e.t, err)
	return c
}

func deliveries(res *activities.EvaluateAlertsResult) int {
	n := 0
	for _, x := range res.Notices {
		n += len(x.DeliveryIDs)
	}
	return n
}

func TestEvaluateAlertsAgainstPostgres(t *testing.T) {
	m := time.Minute
	t.Run("fires after the duration, once, then resolves after clear-for", func(t *testing.T) {
		e := newEvalEnv(t)
		warn := e.channel("all", "warning", 30)
		crit := e.channel("pager", "critical", 30)
		require.Empty(t, e.poll(e.at(0), 90).Notices)
		require.Empty(t, e.poll(e.at(4*m), 90).Notices)
		res := e.poll(e.at(5*m), 90)
		require.Equal(t, 1, res.Fired)
		require.Len(t, res.Notices, 1)
		require.Len(t, res.Notices[0].DeliveryIDs, 1, "a warning goes to the warning channel only")
		d, err := store.GetDelivery(context.Background(), e.db, res.Notices[0].DeliveryIDs[0])
		require.NoError(t, err)
		require.Equal(t, warn.ID, d.ChannelID)
		require.Equal(t, 1, d.Seq)

		// The same evaluation again (a retried activity) changes nothing.
		res, err = e.acts.EvaluateAlerts(context.Background(), activities.EvaluateAlertsInput{DeviceID: e.dev.ID.String(), Collected: e.at(5 * m)})
		require.NoError(t, err)
		require.Zero(t, res.Fired)
		require.Empty(t, res.Notices)
		require.Len(t, e.alerts("firing"), 1)

		res = e.poll(e.at(5*m+30*time.Second), 97)
		require.Empty(t, res.Notices, "critical must also hold for the duration")
		res = e.poll(e.at(10*m+30*time.Second), 97)
		require.Len(t, res.Notices, 1)
		require.Len(t, res.Notices[0].DeliveryIDs, 2, "the escalation goes to both channels")
		require.Equal(t, 2, res.Notices[0].Seq)
		require.Equal(t, "critical", e.alerts("firing")[0].Severity)

		require.Empty(t, e.poll(e.at(11*m), 10).Notices, "clear for less than a minute")
		res = e.poll(e.at(12*m), 10)
		require.Equal(t, 1, res.Resolved)
		require.Len(t, res.Notices, 1)
		require.Equal(t, 3, res.Notices[0].Seq)
		require.Len(t, res.Notices[0].DeliveryIDs, 2)
		require.Empty(t, e.alerts("firing"))
		require.Len(t, e.alerts("resolved"), 1)
		_ = crit

		evs, _, err := store.ListEvents(context.Background(), e.db, store.EventFilter{DeviceID: &e.dev.ID, Kind: "alert"})
		require.NoError(t, err)
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind)
		}
		require.Equal(t, []string{"alert.resolved", "alert.escalated", "alert.firing"}, kinds)
	})

	t.Run("a notice whose workflow start was lost is handed out again", func(t *testing.T) {
		e := newEvalEnv(t)
		e.channel("all", "warning", 30)
		e.lost = true
		e.poll(e.at(0), 85)
		fired := e.poll(e.at(5*m), 85)
		require.Len(t, fired.Notices, 1)
		require.Empty(t, e.poll(e.at(5*m+30*time.Second), 85).Notices, "not yet: its workflow may still be starting")
		again := e.poll(e.at(6*m+time.Second), 85)
		require.Equal(t, fired.Notices, again.Notices, "the same notice, so the same Notify workflow ID")
		e.lost = false
		e.dispatch(again)
		require.Empty(t, e.poll(e.at(8*m), 85).Notices)
	})

	t.Run("filesystem, inodes and temperature read back from the poll's samples", func(t *testing.T) {
		e := newEvalEnv(t)
		ctx := context.Background()
		_, err := e.db.Exec(ctx, `UPDATE alert_rules SET enabled = name IN ('filesystem', 'temperature')`)
		require.NoError(t, err)
		_, err = store.CreateAlertRule(ctx, e.db, &store.AlertRule{Name: "inodes", Kind: "metric", Metric: "inodes",
			Critical: ptrTo(90.0), Severity: "critical", Scope: "all", Enabled: true})
		require.NoError(t, err)
		write := func(t0 time.Time, dataUsed, inodesUsed int64, celsius float64) {
			// As store.WritePoll stores them (migration 0020): the names once, the values as arrays in the system row
			// (the poll below finds its row there already).
			_, err := e.db.Exec(ctx, `INSERT INTO sample_labels (device_id, key, mountpoints, fs_sources, fs_types, sensors, used_on)
				VALUES ($1, 1, '{/data,/}', '{/dev/sdb1,/dev/sda1}', '{ext4,ext4}', '{coretemp/Package id 0}', current_date)
				ON CONFLICT DO NOTHING`,
				e.dev.ID)
			require.NoError(t, err)
			_, err = e.db.Exec(ctx, `INSERT INTO system_metrics (device_id, time, cpu_pct, mem_total, mem_used, labels, fs, temps)
				VALUES ($1,$2,1,100,10,1,ARRAY[ARRAY[100,$3::bigint,100-$3::bigint,1000,$4::bigint],ARRAY[100,10,90,1000,10]],
				ARRAY[$5::real])`, e.dev.ID, t0, dataUsed, inodesUsed, celsius)
			require.NoError(t, err)
		}
		write(e.at(0), 95, 950, 75)
		res := e.poll(e.at(0), 1)
		require.Equal(t, 2, res.Fired, "filesystem (no duration) and inodes fire at once; temperature waits 2 minutes")
		subjects := map[string]string{}
		for _, a := range e.alerts("firing") {
			subjects[a.RuleName] = a.Subject
		}
		require.Equal(t, map[string]string{"filesystem": "/data", "inodes": "/data"}, subjects)
		write(e.at(2*m), 95, 950, 75)
		res = e.poll(e.at(2*m), 1)
		require.Equal(t, 1, res.Fired)
		firing := e.alerts("firing")
		require.Len(t, firing, 3)
		for _, a := range firing {
			if a.RuleName == "temperature" {
				require.Equal(t, "coretemp/Package id 0", a.Subject)
				require.Equal(t, "critical", a.Severity)
			}
		}
	})

	t.Run("maintenance window records but does not send", func(t *testing.T) {
		e := newEvalEnv(t)
		e.channel("all", "info", 30)
		start, end := e.at(-m), e.at(time.Hour)
		_, err := store.CreateMaintenanceWindow(context.Background(), e.db, &store.MaintenanceWindow{Name: "upgrade", Tag: "home",
			StartsAt: &start, EndsAt: &end, TimeZone: "UTC"})
		require.NoError(t, err)
		e.poll(e.at(0), 99)
		res := e.poll(e.at(5*m), 99)
		require.Equal(t, 1, res.Fired)
		require.Empty(t, res.Notices)
		al := e.alerts("firing")
		require.Len(t, al, 1)
		require.True(t, al[0].InMaintenance)
		e.poll(e.at(6*m), 1)
		res = e.poll(e.at(7*m), 1)
		require.Equal(t, 1, res.Resolved)
		require.Empty(t, res.Notices, "nothing was sent, so no resolved notice either")
	})

	t.Run("silenced and acknowledged alerts hold back their notices", func(t *testing.T) {
		e := newEvalEnv(t)
		e.channel("all", "warning", 30)
		e.poll(e.at(0), 85)
		require.Len(t, e.poll(e.at(5*m), 85).Notices, 1)
		al := e.alerts("firing")[0]
		_, err := store.AcknowledgeAlert(context.Background(), e.db, al.ID, "ops", e.at(5*m))
		require.NoError(t, err)
		e.poll(e.at(6*m), 99)
		require.Empty(t, e.poll(e.at(11*m), 99).Notices, "no escalation notice for an acknowledged alert")
		until := e.at(time.Hour)
		_, err = store.SilenceAlert(context.Background(), e.db, al.ID, &until)
		require.NoError(t, err)
		e.poll(e.at(12*m), 1)
		res := e.poll(e.at(13*m), 1)
		require.Equal(t, 1, res.Resolved)
		require.Empty(t, res.Notices, "silenced")
	})

	t.Run("per-device override", func(t *testing.T) {
		e := newEvalEnv(t)
		e.channel("all", "warning", 30)
		rules, err := store.ListAlertRules(context.Background(), e.db)
		require.NoError(t, err)
		var cpu uuid.UUID
		for _, r := range rules {
			if r.Name == "cpu" {
				cpu = r.ID
			}
		}
		hi, d := 99.5, time.Duration(0)
		require.NoError(t, store.SetRuleOverride(context.Background(), e.db, &store.RuleOverride{RuleID: cpu, DeviceID: e.dev.ID,
			Warning: &hi, Critical: &hi, Duration: &d}))
		require.Zero(t, e.poll(e.at(0), 99).Fired)
		require.Zero(t, e.poll(e.at(10*m), 99).Fired)
		require.Equal(t, 1, e.poll(e.at(11*m), 99.7).Fired, "the override's threshold and zero duration")
	})

	t.Run("offline for two minutes, host key blocked", func(t *testing.T) {
		e := newEvalEnv(t)
		e.channel("all", "warning", 30)
		e.poll(e.at(0), 1)
		require.Zero(t, e.failedPoll(e.at(time.Minute), "SSH unreachable").Fired)
		res := e.failedPoll(e.at(2*m), "SSH unreachable")
		require.Equal(t, 1, res.Fired)
		require.Equal(t, "device-offline", e.alerts("firing")[0].RuleName)
		res = e.failedPoll(e.at(3*m), activities.ErrTypeHostKeyChanged)
		require.Equal(t, 1, res.Fired)
		require.Len(t, e.alerts("firing"), 2)
		res = e.poll(e.at(4*m), 1)
		require.Equal(t, 2, res.Resolved)
		require.Len(t, res.Notices, 2)
	})
}

// TestDeliverNotificationOrderRateLimit: a notice waits for the earlier notice of its alert on the same
// channel; a channel over its rate limit delays sends; a sent notice is never sent again.
func TestDeliverNotificationOrderRateLimit(t *testing.T) {
	m := time.Minute
	e := newEvalEnv(t)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("X-Infrastructor-Delivery"))
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	ch, err := store.CreateChannel(ctx, e.db, &store.Channel{Name: "hook", Type: "webhook", URL: srv.URL, MinSeverity: "warning",
		Enabled: true, RatePerMinute: 2})
	require.NoError(t, err)
	e.poll(e.at(0), 90)
	fired := e.poll(e.at(5*m), 90)
	e.poll(e.at(6*m), 1)
	resolved := e.poll(e.at(7*m), 1)
	first, second := fired.Notices[0].DeliveryIDs[0], resolved.Notices[0].DeliveryIDs[0]

	_, err = e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: second})
	requireErrType(t, err, activities.ErrTypeNotificationWaiting)
	out, err := e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: first})
	require.NoError(t, err)
	require.Equal(t, "sent", out.State)
	out, err = e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: second})
	require.NoError(t, err)
	require.Equal(t, "sent", out.State)
	out, err = e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: first})
	require.NoError(t, err)
	require.Equal(t, "sent", out.State, "a retried delivery is not sent again")

	test, err := activities.QueueTestNotice(ctx, e.db, ch.ID, "t", "x")
	require.NoError(t, err)
	_, err = e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: test})
	requireErrType(t, err, activities.ErrTypeRateLimited)
	e.set(e.at(9 * m)) // the minute has passed
	out, err = e.acts.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: test})
	require.NoError(t, err)
	require.Equal(t, "sent", out.State)
	require.Len(t, got, 3)
}

func requireErrType(t *testing.T, err error, typ string) {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want application error %s, got %v", typ, err)
	require.Equal(t, typ, app.Type())
}

func ptrTo[T any](v T) *T { return &v }
