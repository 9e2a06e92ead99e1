package notify

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/notify/notifytest"
)

// chatChannel is the channel of a receiver of the kind, as the API stores it (the webhook URL is the token of
// Discord and Slack).
func chatChannel(r *notifytest.HTTPReceiver) Channel {
	switch r.Kind {
	case notifytest.Discord, notifytest.Slack:
		return Channel{Type: r.Kind, URL: RedactURL(r.ChannelURL()), Token: r.ChannelURL()}
	case notifytest.Telegram:
		return Channel{Type: TypeTelegram, URL: r.Base(), Token: r.Secret, Config: Config{ChatID: notifytest.TelegramChat}}
	case notifytest.Matrix:
		return Channel{Type: TypeMatrix, URL: r.Base(), Token: r.Secret, Config: Config{RoomID: notifytest.MatrixRoom}}
	}
	return Channel{Type: TypeNtfy, URL: r.ChannelURL(), Token: r.Secret}
}

var chatKinds = map[string]string{
	notifytest.Ntfy:     "tk_ntfyaccesstoken0000000000",
	notifytest.Discord:  "Discord-Webhook-Token_0123456789abcdef",
	notifytest.Slack:    "SlackWebhookSecret0123",
	notifytest.Telegram: "123456789:AAE-TelegramBotToken_0123456789",
	notifytest.Matrix:   "syt_aW5mcmE_MatrixAccessToken_0a1b2c",
}

// TestChatServices: each chat-like type reaches a receiver that checks the service's method, path, content type,
// credential and body shape.
func TestChatServices(t *testing.T) {
	ctx := context.Background()
	m := msg
	m.Title, m.Text = "FIRING critical: nas cpu", "cpu at 97.0% <@everyone> & more"
	for kind, secret := range chatKinds {
		t.Run(kind, func(t *testing.T) {
			r := notifytest.NewHTTP(t, kind, secret)
			require.NoError(t, lo().Send(ctx, chatChannel(r), m))
			require.Empty(t, r.Refusals())
			got := r.Received()
			require.Len(t, got, 1)
			require.Contains(t, notifytest.Text(kind, got[0].Body), "cpu at 97.0%")
			body := got[0].Body
			switch kind {
			case notifytest.Ntfy:
				require.Equal(t, "Bearer "+secret, got[0].Header.Get("Authorization"))
				require.Equal(t, m.Title, body["title"])
				require.EqualValues(t, 5, body["priority"])
				require.Equal(t, []any{"rotating_light"}, body["tags"])
			case notifytest.Discord:
				embed := body["embeds"].([]any)[0].(map[string]any)
				require.Equal(t, m.Title, embed["title"])
				require.EqualValues(t, 0xE74C3C, embed["color"])
				require.Equal(t, map[string]any{"parse": []any{}}, body["allowed_mentions"], "no mention pings anyone")
			case notifytest.Slack:
				require.Equal(t, "*FIRING critical: nas cpu*\ncpu at 97.0% &lt;@everyone&gt; &amp; more", body["text"])
			case notifytest.Telegram:
				require.Equal(t, notifytest.TelegramChat, body["chat_id"])
				require.Equal(t, "FIRING critical: nas cpu\n\ncpu at 97.0% <@everyone> & more", body["text"])
				require.Nil(t, body["parse_mode"], "plain text needs no escaping")
			case notifytest.Matrix:
				require.Equal(t, "Bearer "+secret, got[0].Header.Get("Authorization"))
				require.Equal(t, "m.text", body["msgtype"])
				require.Equal(t, "FIRING critical: nas cpu\n\ncpu at 97.0% <@everyone> & more", body["body"])
				require.Equal(t, "<b>FIRING critical: nas cpu</b><br><br>cpu at 97.0% &lt;@everyone&gt; &amp; more",
					body["formatted_body"], "the HTML version escapes the alert's text")
			}
		})
	}
}

// TestChatServicesRefusals: a wrong credential is a rejection that never carries the credential; a receiver that
// is down is temporary; a 429 is temporary with the service's wait, from its header or its body.
func TestChatServicesRefusals(t *testing.T) {
	ctx := context.Background()
	for kind, secret := range chatKinds {
		t.Run(kind, func(t *testing.T) {
			r := notifytest.NewHTTP(t, kind, secret)
			ch := chatChannel(r)
			wrong := "Wrong-" + secret[6:]
			bad := ch
			switch kind {
			case notifytest.Discord, notifytest.Slack:
				bad.Token = strings.Replace(ch.Token, secret, wrong, 1)
			default:
				bad.Token = wrong
			}
			err := lo().Send(ctx, bad, msg)
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			require.NotContains(t, err.Error(), wrong)
			require.Len(t, r.Refusals(), 1)

			r.RateLimit(1)
			err = lo().Send(ctx, ch, msg)
			var temp *TemporaryError
			require.ErrorAs(t, err, &temp)
			require.Equal(t, http.StatusTooManyRequests, temp.Status)
			want := map[string]time.Duration{notifytest.Discord: 1500 * time.Millisecond, notifytest.Telegram: 3 * time.Second,
				notifytest.Matrix: 2500 * time.Millisecond}[kind]
			if want == 0 {
				want = 2 * time.Second
			}
			require.Equal(t, want, temp.RetryAfter)

			r.Down()
			err = lo().Send(ctx, ch, msg)
			require.ErrorAs(t, err, &temp)
			require.Zero(t, temp.Status)
			require.NotContains(t, err.Error(), secret, "the URL is stripped from network errors")
			r.Up()
			require.NoError(t, lo().Send(ctx, ch, msg))
			require.Len(t, r.Messages(), 1)
		})
	}
}

// TestChatServicesGuarded: the chat types go through the guarded client: loopback is refused by default and a
// redirect is not followed with the credential.
func TestChatServicesGuarded(t *testing.T) {
	ctx := context.Background()
	r := notifytest.NewHTTP(t, notifytest.Discord, chatKinds[notifytest.Discord])
	err := (&Sender{}).Send(ctx, chatChannel(r), msg)
	require.ErrorIs(t, err, ErrForbiddenTarget)
	require.Empty(t, r.Messages())

	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		leaked = append(leaked, req.URL.Path)
		mu.Unlock()
	}))
	defer other.Close()
	_, port, err := net.SplitHostPort(other.Listener.Addr().String())
	require.NoError(t, err)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "http://localhost:"+port+req.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	for _, ch := range []Channel{
		{Type: TypeTelegram, URL: first.URL, Token: "1:secret-bot-token-aaaaaaaaaaaaaaa", Config: Config{ChatID: "1"}},
		{Type: TypeSlack, URL: RedactURL(first.URL), Token: first.URL + "/services/T/B/secret-hook"},
		{Type: TypeMatrix, URL: first.URL, Token: "syt_secret_access_token", Config: Config{RoomID: "!room:example.org"}},
	} {
		err = lo().Send(ctx, ch, msg)
		var rej *RejectedError
		require.ErrorAs(t, err, &rej, ch.Type)
		require.NotContains(t, err.Error(), "secret", ch.Type)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, leaked, "the redirect target must not be contacted")
}

func TestNtfyTopic(t *testing.T) {
	for raw, want := range map[string][2]string{
		"https://ntfy.sh/alerts":            {"https://ntfy.sh/", "alerts"},
		"https://ntfy.example/ntfy/alerts/": {"https://ntfy.example/ntfy/", "alerts"},
		"http://10.0.0.5:8080/a-b_c?x=1":    {"http://10.0.0.5:8080/", "a-b_c"},
	} {
		base, topic, err := NtfyTopic(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, [2]string{base, topic}, raw)
	}
	for _, raw := range []string{"https://ntfy.sh", "https://ntfy.sh/", "https://ntfy.sh/bad topic", "https://ntfy.sh/" + strings.Repeat("x", 65)} {
		_, _, err := NtfyTopic(raw)
		require.Error(t, err, raw)
	}
}

func TestValidateConfig(t *testing.T) {
	good := Config{SMTPHost: "mail.example.com", From: "infra@example.com", To: []string{"me@example.com"}}
	require.Empty(t, ValidateConfig(TypeEmail, good))
	require.Empty(t, ValidateConfig(TypeTelegram, Config{ChatID: "-100123"}))
	require.Empty(t, ValidateConfig(TypeTelegram, Config{ChatID: "@my_channel"}))
	require.Empty(t, ValidateConfig(TypeGotify, Config{}))
	require.Empty(t, ValidateConfig(TypeMatrix, Config{RoomID: "!AbCd:matrix.example.org"}))
	require.Empty(t, ValidateConfig(TypeMatrix, Config{RoomID: "!AbCd:matrix.example.org:8448"}))
	require.Empty(t, ValidateConfig(TypeMatrix, Config{RoomID: "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"}), "room version 12 IDs have no server")
	for _, tt := range []struct {
		typ   string
		c     Config
		field string
	}{
		{TypeEmail, Config{From: "a@b.c", To: []string{"d@e.f"}}, "config.smtp_host"},
		{TypeEmail, Config{SMTPHost: "smtp://mail", From: "a@b.c", To: []string{"d@e.f"}}, "config.smtp_host"},
		{TypeEmail, Config{SMTPHost: "mail", SMTPPort: 70000, From: "a@b.c", To: []string{"d@e.f"}}, "config.smtp_port"},
		{TypeEmail, Config{SMTPHost: "mail", SMTPSecurity: "none", From: "a@b.c", To: []string{"d@e.f"}}, "config.smtp_security"},
		{TypeEmail, Config{SMTPHost: "mail", From: "Infra <a@b.c>", To: []string{"d@e.f"}}, "config.from"},
		{TypeEmail, Config{SMTPHost: "mail", From: "a@b.c"}, "config.to"},
		{TypeEmail, Config{SMTPHost: "mail", From: "a@b.c", To: []string{"d@e.f\r\nBcc: x@y.z"}}, "config.to"},
		{TypeTelegram, Config{}, "config.chat_id"},
		{TypeTelegram, Config{ChatID: "12; rm"}, "config.chat_id"},
		{TypeGotify, Config{SMTPHost: "mail"}, "config.smtp_host"},
		{TypeEmail, Config{SMTPHost: "mail", From: "a@b.c", To: []string{"d@e.f"}, ChatID: "1"}, "config.chat_id"},
		{TypeMatrix, Config{}, "config.room_id"},
		{TypeMatrix, Config{RoomID: "#alerts:example.org"}, "config.room_id"},
		{TypeMatrix, Config{RoomID: "!room:example.org/../../x"}, "config.room_id"},
		{TypeMatrix, Config{RoomID: "!ro om:example.org"}, "config.room_id"},
		{TypeTelegram, Config{ChatID: "1", RoomID: "!a:b"}, "config.room_id"},
	} {
		errs := ValidateConfig(tt.typ, tt.c)
		require.Contains(t, errs, tt.field, "%s %+v: %v", tt.typ, tt.c, errs)
	}
}

func TestRetryAfterBody(t *testing.T) {
	require.Equal(t, 1500*time.Millisecond, retryAfterBody(`{"retry_after":1.5}`))
	require.Equal(t, 3*time.Second, retryAfterBody(`{"parameters":{"retry_after":3}}`))
	require.Zero(t, retryAfterBody(`not json`))
	require.Zero(t, retryAfterBody(`{"retry_after":-1}`))
	require.Zero(t, retryAfterBody(`{"retry_after":99999}`))
}

// TestWebhookURLNeverInErrors: a Discord or Slack receiver that echoes the request path (the webhook's token) does
// not get it into the error, which is kept with the delivery and in workflow history.
func TestWebhookURLNeverInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no webhook at "+r.URL.Path+" (token "+path.Base(r.URL.Path)+")")
	}))
	defer srv.Close()
	for _, typ := range []string{TypeDiscord, TypeSlack} {
		hook := srv.URL + "/api/webhooks/1234/Hook-Token-Echoed-0123456789"
		err := lo().Send(context.Background(), Channel{Type: typ, URL: RedactURL(hook), Token: hook}, msg)
		var rej *RejectedError
		require.ErrorAs(t, err, &rej, typ)
		require.NotContains(t, err.Error(), "Hook-Token-Echoed", typ)
		require.Contains(t, err.Error(), "no webhook at", typ)
	}
}

// TestMatrixExactlyOnce: every attempt at one delivery carries the same transaction ID, so a send whose answer was
// lost and is retried gets the first event back from the homeserver instead of posting the alert twice; another
// delivery is another transaction. The room ID is percent-encoded in the path.
func TestMatrixExactlyOnce(t *testing.T) {
	ctx := context.Background()
	r := notifytest.NewHTTP(t, notifytest.Matrix, chatKinds[notifytest.Matrix])
	ch := chatChannel(r)
	require.NoError(t, lo().Send(ctx, ch, msg))
	require.NoError(t, lo().Send(ctx, ch, msg), "the retry of a delivery succeeds")
	require.Len(t, r.Messages(), 1, "and posts nothing new")
	require.Equal(t, 1, r.Retransmits())

	next := msg
	next.DeliveryID++
	require.NoError(t, lo().Send(ctx, ch, next))
	require.Len(t, r.Messages(), 2)
	require.NotEqual(t, MatrixTxnID(msg), MatrixTxnID(next))

	other := msg
	other.Title = "another installation's delivery with the same ID"
	require.NotEqual(t, MatrixTxnID(msg), MatrixTxnID(other))
	require.Equal(t, "https://hs.example/_matrix/client/v3/rooms/%21AbC:example.org/send/m.room.message/t1",
		MatrixSendURL("https://hs.example/", "!AbC:example.org", "t1"))
}
