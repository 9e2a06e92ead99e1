package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/store"
)

type channelOut struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	URL      string        `json:"url"`
	Config   notify.Config `json:"config"`
	HasToken bool          `json:"has_token"`
}

// TestChannelTypes: the REST API takes every channel type (#12) with its settings, names the field of every bad
// one (config.<setting> for the settings object), checks addresses as for the older types, and never returns a
// credential: for Discord and Slack that is the webhook URL itself.
func TestChannelTypes(t *testing.T) {
	ts := newServer(t)
	ctx := context.Background()
	create := func(body map[string]any) channelOut {
		t.Helper()
		r := ts.req("POST", "/api/v1/notification-channels", ts.admin, body).requireStatus(t, http.StatusCreated)
		var out channelOut
		require.NoError(t, json.Unmarshal(r.Body, &out))
		return out
	}
	stored := func(id string) *store.Channel {
		t.Helper()
		ch, err := store.GetChannel(ctx, ts.pool, uuid.MustParse(id))
		require.NoError(t, err)
		return ch
	}

	t.Run("email", func(t *testing.T) {
		ch := create(map[string]any{"name": "mail", "type": "email", "token": "SmTp-Pass-1",
			"config": map[string]any{"smtp_host": "192.168.1.5", "smtp_port": 587, "username": "infra",
				"from": "infra@example.com", "to": []string{"ops@example.com"}}})
		require.Equal(t, "", ch.URL)
		require.True(t, ch.HasToken)
		require.Equal(t, "192.168.1.5", ch.Config.SMTPHost)
		require.Equal(t, []string{"ops@example.com"}, ch.Config.To)
		require.Equal(t, "SmTp-Pass-1", ts.open(stored(ch.ID).Token))
		require.NotContains(t, stored(ch.ID).Token, "SmTp")

		// A PATCH with a new config replaces it and keeps the password.
		r := ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"config": map[string]any{
			"smtp_host": "mail.example.com", "smtp_security": "tls", "username": "infra", "from": "infra@example.com",
			"to": []string{"a@example.com", "b@example.com"}}}).requireStatus(t, http.StatusOK)
		require.NotContains(t, string(r.Body), "SmTp-Pass-1")
		require.Equal(t, "tls", stored(ch.ID).Config.SMTPSecurity)
		require.Equal(t, "SmTp-Pass-1", ts.open(stored(ch.ID).Token))
	})

	t.Run("discord and slack keep the webhook URL sealed", func(t *testing.T) {
		for typ, hook := range map[string]string{
			"discord": "https://192.168.1.9/api/webhooks/1122/DiScOrD-hook-token",
			"slack":   "https://192.168.1.9/services/T01/B02/SlAcK-hook-token",
		} {
			ch := create(map[string]any{"name": typ, "type": typ, "url": hook})
			require.Equal(t, "https://192.168.1.9/…", ch.URL)
			require.True(t, ch.HasToken)
			require.Equal(t, hook, ts.open(stored(ch.ID).Token))
			require.Equal(t, "https://192.168.1.9/…", stored(ch.ID).URL)

			r := ts.req("GET", "/api/v1/notification-channels/"+ch.ID, ts.admin, nil).requireStatus(t, http.StatusOK)
			require.NotContains(t, string(r.Body), "hook-token")
			// Renaming keeps the webhook.
			ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"name": typ + "-2"}).
				requireStatus(t, http.StatusOK)
			require.Equal(t, hook, ts.open(stored(ch.ID).Token))
			// Another type needs its own URL: the stored one is only the host.
			e := ts.req("PATCH", "/api/v1/notification-channels/"+ch.ID, ts.admin, map[string]any{"type": "webhook"}).
				requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.Contains(t, e.Error.Fields, "url")
		}
		r := ts.req("GET", "/api/v1/notification-channels", ts.admin, nil).requireStatus(t, http.StatusOK)
		require.NotContains(t, string(r.Body), "hook-token")
		for _, rec := range ts.auditRecords() {
			raw, _ := json.Marshal(rec)
			require.NotContains(t, string(raw), "hook-token", "the audit log holds no webhook URL")
		}
	})

	t.Run("telegram and ntfy", func(t *testing.T) {
		tg := create(map[string]any{"name": "tg", "type": "telegram", "token": "123456:AAE-bot-token_0123456789abc",
			"config": map[string]any{"chat_id": "-100123456"}})
		require.Equal(t, notify.TelegramAPI, tg.URL)
		require.Equal(t, "-100123456", tg.Config.ChatID)
		require.Equal(t, "123456:AAE-bot-token_0123456789abc", ts.open(stored(tg.ID).Token))

		mx := create(map[string]any{"name": "matrix", "type": "matrix", "url": "https://matrix.example.org",
			"token": "syt_bWF0cml4_accesstoken", "config": map[string]any{"room_id": "!AbCd:example.org"}})
		require.Equal(t, "https://matrix.example.org", mx.URL)
		require.Equal(t, "!AbCd:example.org", mx.Config.RoomID)
		require.Equal(t, "syt_bWF0cml4_accesstoken", ts.open(stored(mx.ID).Token), "the access token is stored sealed")

		n := create(map[string]any{"name": "ntfy", "type": "ntfy", "url": "https://ntfy.example.org/infra-alerts"})
		require.Equal(t, "https://ntfy.example.org/infra-alerts", n.URL)
		require.False(t, n.HasToken)
	})

	t.Run("bad settings name the field", func(t *testing.T) {
		mail := func(cfg map[string]any) map[string]any {
			return map[string]any{"name": "m", "type": "email", "config": cfg}
		}
		good := func() map[string]any {
			return map[string]any{"smtp_host": "192.168.1.5", "from": "a@example.com", "to": []string{"b@example.com"}}
		}
		with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"name": "m", "type": "email"}, "config.smtp_host"},
			{map[string]any{"name": "m", "type": "email"}, "config.to"},
			{mail(with("smtp_host", "")), "config.smtp_host"},
			{mail(with("smtp_host", "127.0.0.1")), "config.smtp_host"},
			{mail(with("smtp_host", "169.254.169.254")), "config.smtp_host"},
			{mail(with("smtp_port", "587")), "config.smtp_port"},
			{mail(with("smtp_port", 0x10000)), "config.smtp_port"},
			{mail(with("smtp_security", "none")), "config.smtp_security"},
			{mail(with("from", "not an address")), "config.from"},
			{mail(with("to", []string{})), "config.to"},
			{mail(with("bogus", 1)), "config.bogus"},
			{mail(with("username", "infra")), "token"},
			{map[string]any{"name": "m", "type": "email", "token": "pw", "config": good()}, "config.username"},
			{map[string]any{"name": "m", "type": "email", "url": "http://h/", "config": good()}, "url"},
			{map[string]any{"name": "m", "type": "email", "config": "smtp://h"}, "config"},
			{map[string]any{"name": "d", "type": "discord"}, "url"},
			{map[string]any{"name": "d", "type": "discord", "url": "http://127.0.0.1/api/webhooks/1/x"}, "url"},
			{map[string]any{"name": "d", "type": "discord", "url": "https://h/api/webhooks/1/x", "token": "t"}, "token"},
			{map[string]any{"name": "s", "type": "slack", "url": "ftp://h/services/x"}, "url"},
			{map[string]any{"name": "t", "type": "telegram", "config": map[string]any{"chat_id": "1"}}, "token"},
			{map[string]any{"name": "t", "type": "telegram", "token": "not-a-bot-token", "config": map[string]any{"chat_id": "1"}}, "token"},
			{map[string]any{"name": "t", "type": "telegram", "token": "123456:AAE-bot-token_0123456789abc"}, "config.chat_id"},
			{map[string]any{"name": "t", "type": "telegram", "token": "123456:AAE-bot-token_0123456789abc",
				"config": map[string]any{"chat_id": "1; drop"}}, "config.chat_id"},
			{map[string]any{"name": "x", "type": "matrix", "url": "https://m.example.org", "config": map[string]any{"room_id": "!a:b"}}, "token"},
			{map[string]any{"name": "x", "type": "matrix", "token": "t", "config": map[string]any{"room_id": "!a:b"}}, "url"},
			{map[string]any{"name": "x", "type": "matrix", "url": "https://m.example.org", "token": "t"}, "config.room_id"},
			{map[string]any{"name": "x", "type": "matrix", "url": "https://m.example.org", "token": "t",
				"config": map[string]any{"room_id": "#alerts:example.org"}}, "config.room_id"},
			{map[string]any{"name": "x", "type": "matrix", "url": "http://169.254.169.254", "token": "t",
				"config": map[string]any{"room_id": "!a:b"}}, "url"},
			{map[string]any{"name": "t", "type": "telegram", "token": "123456:AAE-bot-token_0123456789abc",
				"config": map[string]any{"chat_id": "1", "room_id": "!a:b"}}, "config.room_id"},
			{map[string]any{"name": "n", "type": "ntfy", "url": "https://ntfy.sh/"}, "url"},
			{map[string]any{"name": "n", "type": "ntfy", "url": "https://ntfy.sh/a", "config": map[string]any{"chat_id": "1"}}, "config.chat_id"},
			{map[string]any{"name": "w", "type": "webhook", "url": "http://h/", "config": map[string]any{"smtp_host": "h"}}, "config.smtp_host"},
		} {
			e := ts.req("POST", "/api/v1/notification-channels", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.Contains(t, e.Error.Fields, tc.field, "%v: %v", tc.body, e.Error.Fields)
		}
		e := ts.req("POST", "/api/v1/notification-channels", ts.admin, map[string]any{"name": "x", "type": "fax", "url": "http://h/"}).
			requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Equal(t, "must be one of gotify, webhook, ntfy, email, discord, slack, telegram, matrix", e.Error.Fields["type"])
	})
}
