package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/notify/notifytest"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/teststack"
	"github.com/infrastructor/infrastructor/workflows"
)

// receiver is one channel's local receiver, whatever its protocol.
type receiver struct {
	name string
	http *notifytest.HTTPReceiver
	smtp *notifytest.SMTPServer
}

func (r receiver) down() {
	if r.http != nil {
		r.http.Down()
		return
	}
	r.smtp.Down()
}

func (r receiver) up() {
	if r.http != nil {
		r.http.Up()
		return
	}
	r.smtp.Up()
}

// texts are the received messages' texts (the mail subject for email) in arrival order.
func (r receiver) texts() []string {
	if r.smtp != nil {
		return r.smtp.Subjects()
	}
	var out []string
	for _, b := range r.http.Messages() {
		out = append(out, notifytest.Text(r.http.Kind, b))
	}
	return out
}

// TestNewChannelTypesThroughOutage: channels of each new type are created over REST and test-sent through the
// Notify workflow; then every receiver goes down while an alert fires and resolves, and comes back after several
// failed attempts: each receives the firing notice, then the resolved one, exactly once (#12).
func TestNewChannelTypesThroughOutage(t *testing.T) {
	mailSrv := notifytest.NewSMTP(t, notifytest.SMTPOptions{Username: "infra", Password: "SmTp-pass-42"})
	// No device is polled; the worker's SSH pool still wants a key.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	s := startStack(t, []ssh.Signer{signer}, teststack.WithNotifyRootCAs(mailSrv.Roots))
	ctx := context.Background()

	secrets := map[string]string{notifytest.Ntfy: "tk_ntfy0123456789abcdefghij", notifytest.Discord: "DiScOrD-0123456789",
		notifytest.Slack: "SlAcK-0123456789", notifytest.Telegram: "987654:AAH-telegram_bot_token_0123456789",
		notifytest.Matrix: "syt_aW5mcmE_matrix_token_0123"}
	receivers := map[string]receiver{"email": {name: "email", smtp: mailSrv}}
	bodies := map[string]map[string]any{"email": {"name": "mail", "type": "email", "token": "SmTp-pass-42",
		"config": map[string]any{"smtp_host": mailSrv.Host(), "smtp_port": mailSrv.Port(), "username": "infra",
			"from": "infrastructor@example.com", "to": []string{"ops@example.com"}}}}
	for kind, secret := range secrets {
		r := notifytest.NewHTTP(t, kind, secret)
		receivers[kind] = receiver{name: kind, http: r}
		body := map[string]any{"name": kind, "type": kind, "url": r.ChannelURL()}
		switch kind {
		case notifytest.Ntfy:
			body["token"] = secret
		case notifytest.Telegram:
			body["token"], body["config"] = secret, map[string]any{"chat_id": notifytest.TelegramChat}
		case notifytest.Matrix:
			body["token"], body["config"] = secret, map[string]any{"room_id": notifytest.MatrixRoom}
		}
		bodies[kind] = body
	}

	channels := map[string]string{} // type → id
	for kind, body := range bodies {
		body["min_severity"] = "info"
		var out struct {
			ID string `json:"id"`
		}
		require.Equal(t, 201, s.do("POST", "/api/v1/notification-channels", body, &out), kind)
		channels[kind] = out.ID

		var d struct {
			State     string `json:"state"`
			LastError string `json:"last_error"`
		}
		require.Equal(t, 200, s.do("POST", "/api/v1/notification-channels/"+out.ID+"/test", nil, &d), kind)
		require.Equal(t, "sent", d.State, "%s test-send: %s", kind, d.LastError)
		require.Equal(t, []string{"Infrastructor test notification"}, firstLines(receivers[kind].texts()), kind)
	}

	// An alert fires and resolves while every receiver is down.
	dev, err := store.CreateDevice(ctx, s.DB, &store.Device{Name: "nas", Host: "192.0.2.7", Port: 22, User: "monitor",
		DeviceType: "linux", PollInterval: time.Minute, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	rules, err := store.ListAlertRules(ctx, s.DB)
	require.NoError(t, err)
	now := time.Now()
	al, err := store.OpenAlert(ctx, s.DB, &store.Alert{RuleID: rules[0].ID, DeviceID: dev.ID, Severity: "critical",
		Message: "disk at 97%", PendingSince: now, FiredAt: now})
	require.NoError(t, err)
	for _, r := range receivers {
		r.down()
	}
	var firing, resolved []int64
	for kind, id := range channels {
		ch, err := store.GetChannel(ctx, s.DB, uuid.MustParse(id))
		require.NoError(t, err, kind)
		for seq, kindOf := range []string{"firing", "resolved"} {
			did, err := store.InsertDelivery(ctx, s.DB, &store.Delivery{AlertID: &al.ID, ChannelID: ch.ID, Seq: seq,
				Kind: kindOf, Severity: "critical", Title: strings.ToUpper(kindOf) + " critical: nas disk",
				Message: "disk at 97%"})
			require.NoError(t, err)
			if seq == 0 {
				firing = append(firing, did)
			} else {
				resolved = append(resolved, did)
			}
		}
	}
	// The resolved notice's workflow starts first: it must still arrive second.
	var runs []client.WorkflowRun
	for seq, ids := range [][]int64{resolved, firing} {
		key := fmt.Sprintf("%s/%d", al.ID, 1-seq)
		run, err := s.TC.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.NotifyWorkflowID(key),
			TaskQueue: s.TaskQueue, WorkflowRunTimeout: activities.NotifyScheduleToClose},
			workflows.NotifyWorkflowName, workflows.NotifyInput{Key: key, DeliveryIDs: ids})
		require.NoError(t, err)
		runs = append(runs, run)
	}

	// Down until every firing delivery has failed twice (connection refused each time).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		assert.NoError(c, s.DB.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE id = ANY($1) AND attempts >= 2
			AND state = 'pending'`, firing).Scan(&n))
		assert.Equal(c, len(firing), n)
	}, 2*time.Minute, 250*time.Millisecond, "every channel's first attempts fail")
	for _, r := range receivers {
		assert.Len(t, r.texts(), 1, "%s got something while down", r.name)
		r.up()
	}

	want := []string{"Infrastructor test notification", "FIRING critical: nas disk", "RESOLVED critical: nas disk"}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for kind, r := range receivers {
			assert.Equal(c, want, firstLines(r.texts()), kind)
		}
	}, 3*time.Minute, 250*time.Millisecond, "each receiver gets both notices, in order, after the outage")
	for _, run := range runs {
		var res workflows.NotifyResult
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		require.NoError(t, run.Get(wctx, &res))
		cancel()
		require.Equal(t, len(channels), res.Sent)
		require.Zero(t, res.Failed)
	}
	for kind, r := range receivers {
		require.Equal(t, want, firstLines(r.texts()), "%s: exactly once", kind)
		if r.http != nil {
			require.Empty(t, r.http.Refusals(), kind)
		}
	}
	var failedBefore int
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT min(attempts) FROM notification_deliveries WHERE id = ANY($1)`, firing).Scan(&failedBefore))
	require.GreaterOrEqual(t, failedBefore, 3, "at least two refused attempts and the one that landed")
	for _, m := range mailSrv.Mails() {
		require.True(t, m.TLS)
		require.Equal(t, "infra", m.User)
	}
}

// firstLines keeps the first line of each text (the title: chat services put the message below it).
func firstLines(texts []string) []string {
	out := make([]string, 0, len(texts))
	for _, s := range texts {
		line, _, _ := strings.Cut(s, "\n")
		out = append(out, strings.TrimPrefix(strings.TrimSuffix(line, "*"), "*"))
	}
	return out
}
