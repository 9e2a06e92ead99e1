package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	htmlpkg "html"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// More channel types (#12). The HTTP-based ones are small senders on the same guarded client as Gotify and
// webhooks (see NewClient): a generic multi-service library builds its own HTTP clients, which would bypass the
// address check at dial time and follow redirects with the credential in the URL.
const (
	// TypeNtfy publishes to an ntfy topic: URL is the topic's URL (https://ntfy.sh/alerts), Token an optional
	// access token.
	TypeNtfy = "ntfy"
	// TypeEmail sends mail over SMTP with STARTTLS (or implicit TLS): Config names the server and the addresses,
	// token is the SMTP password.
	TypeEmail = "email"
	// TypeDiscord posts to a Discord webhook. Its URL holds the webhook's token, so the whole URL is the
	// credential: it is kept in Token, and the channel's URL shows only the host.
	TypeDiscord = "discord"
	// TypeSlack posts to a Slack incoming webhook (also Mattermost and Rocket.Chat, which take the same shape);
	// like Discord, the URL is the credential.
	TypeSlack = "slack"
	// TypeTelegram sends through the Telegram Bot API: Token is the bot token, Config.ChatID the chat; URL is the
	// Bot API server (https://api.telegram.org, or a self-hosted one).
	TypeTelegram = "telegram"
	// TypeMatrix sends an m.room.message event to a Matrix room: URL is the homeserver (https://matrix.org),
	// cfg.RoomID the room, Token the access token of the account that sends.
	TypeMatrix = "matrix"
)

// Types are every channel type, in the order the API documents them.
var Types = []string{TypeGotify, TypeWebhook, TypeNtfy, TypeEmail, TypeDiscord, TypeSlack, TypeTelegram, TypeMatrix}

// URLIsCredential reports whether a channel type's URL is itself a secret (it embeds the webhook's token), so it
// is stored sealed in Token rather than shown.
func URLIsCredential(typ string) bool { return typ == TypeDiscord || typ == TypeSlack }

// TelegramAPI is the public Telegram Bot API server.
const TelegramAPI = "https://api.telegram.org"

// Config holds the settings of the channel types that need more than a URL. None of it is secret: the SMTP
// password and the bot token are the channel's Token.
type Config struct {
	// SMTPHost and SMTPPort are the mail server (port 587 by default, 465 with SMTPSecurity "tls").
	SMTPHost string `json:"smtp_host,omitempty"`
	SMTPPort int    `json:"smtp_port,omitempty"`
	// SMTPSecurity is "starttls" (the default: the session must be upgraded, or nothing is sent) or "tls"
	// (implicit TLS from the first byte). There is no plaintext mode: the password and the alerts would travel
	// in the clear.
	SMTPSecurity string `json:"smtp_security,omitempty"`
	// Username logs in to the SMTP server (with the channel's token as the password); empty sends without
	// logging in.
	Username string   `json:"username,omitempty"`
	From     string   `json:"from,omitempty"`
	To       []string `json:"to,omitempty"`
	// ChatID is the Telegram chat: a number (negative for groups) or @channelname.
	ChatID string `json:"chat_id,omitempty"`
	// RoomID is the Matrix room's ID (!opaque:server.example; an alias such as #room:server does not work, as
	// sending needs the ID). The account must have joined the room.
	RoomID string `json:"room_id,omitempty"`
}

// SMTP security modes.
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
)

// port is the SMTP port in use: the configured one or the mode's default.
func (c Config) port() int {
	switch {
	case c.SMTPPort != 0:
		return c.SMTPPort
	case c.SMTPSecurity == SMTPTLS:
		return 465
	}
	return 587
}

var (
	reNtfyTopic     = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)
	reTelegramChat  = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)
	reTelegramToken = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)
	// reMatrixRoom: "!", an opaque part, and (before room version 12) ":" and the server name.
	reMatrixRoom = regexp.MustCompile(`^![A-Za-z0-9._=/+-]{1,200}(:[A-Za-z0-9.-]{1,230}(:[0-9]{1,5})?)?$`)
	reHost       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// ValidTelegramToken reports whether s looks like a bot token (123456:ABC-...), so a typo is caught at save time
// rather than at the first alert.
func ValidTelegramToken(s string) bool { return reTelegramToken.MatchString(s) }

// NtfyTopic splits an ntfy topic URL into the server's base URL, where JSON messages are published, and the
// topic.
func NtfyTopic(raw string) (base, topic string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path, "/")
	if i < 0 || !reNtfyTopic.MatchString(path[i+1:]) {
		return "", "", errors.New("the URL must end in a topic name (letters, digits, '-' and '_', at most 64)")
	}
	topic = path[i+1:]
	u.Path, u.RawPath, u.RawQuery, u.Fragment = path[:i+1], "", "", ""
	return u.String(), topic, nil
}

// ValidateConfig checks the settings a channel type needs and returns the problems by field name, as the API
// reports them ("config.smtp_host").
func ValidateConfig(typ string, c Config) map[string]string {
	errs := map[string]string{}
	fail := func(field, msg string) {
		if _, ok := errs["config."+field]; !ok {
			errs["config."+field] = msg
		}
	}
	switch typ {
	case TypeEmail:
		if c.SMTPHost == "" {
			fail("smtp_host", "is required for email (the SMTP server's host name or address)")
		} else if !validHost(c.SMTPHost) {
			fail("smtp_host", "must be a host name or an IP address, without port or scheme")
		}
		if c.SMTPPort < 0 || c.SMTPPort > 65535 {
			fail("smtp_port", "must be between 1 and 65535")
		}
		switch c.SMTPSecurity {
		case "", SMTPStartTLS, SMTPTLS:
		default:
			fail("smtp_security", "must be starttls or tls")
		}
		if !validAddress(c.From) {
			fail("from", "must be one mail address, e.g. infrastructor@example.com")
		}
		if len(c.To) == 0 || len(c.To) > 20 {
			fail("to", "must list 1 to 20 mail addresses")
		}
		for _, a := range c.To {
			if !validAddress(a) {
				fail("to", fmt.Sprintf("%q is not a mail address", a))
			}
		}
		if len(c.Username) > 256 {
			fail("username", "must be at most 256 characters")
		}
	case TypeTelegram:
		if !reTelegramChat.MatchString(c.ChatID) {
			fail("chat_id", "must be a chat id (a number, negative for groups) or @channelname")
		}
	case TypeMatrix:
		switch {
		case c.RoomID == "":
			fail("room_id", "is required for matrix (the room's ID, !abc123:example.org, from the room's settings)")
		case strings.HasPrefix(c.RoomID, "#"):
			fail("room_id", "must be the room's ID (!abc123:example.org), not an alias: the room's settings show it")
		case !reMatrixRoom.MatchString(c.RoomID):
			fail("room_id", "must be a room ID such as !abc123:example.org")
		}
	}
	// Settings of other types are refused, so a misplaced one is noticed.
	if typ != TypeEmail {
		for field, set := range map[string]bool{"smtp_host": c.SMTPHost != "", "smtp_port": c.SMTPPort != 0,
			"smtp_security": c.SMTPSecurity != "", "username": c.Username != "", "from": c.From != "", "to": len(c.To) > 0} {
			if set {
				fail(field, "is a setting of email channels, not of "+typ)
			}
		}
	}
	if typ != TypeTelegram && c.ChatID != "" {
		fail("chat_id", "is a setting of telegram channels, not of "+typ)
	}
	if typ != TypeMatrix && c.RoomID != "" {
		fail("room_id", "is a setting of matrix channels, not of "+typ)
	}
	return errs
}

// validAddress accepts one bare mail address (local@domain): no display name, list or line break, which could
// smuggle in recipients or headers.
func validAddress(a string) bool {
	p, err := mail.ParseAddress(a)
	return err == nil && p.Name == "" && p.Address == a && len(a) <= 254
}

// validHost accepts an IP address or a DNS name (RFC 1123), without port or scheme.
func validHost(h string) bool {
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return true
	}
	return len(h) <= 253 && reHost.MatchString(h)
}

// chatRequest builds the HTTP request of the chat-like types: the URL, the JSON body and the headers to add.
func chatRequest(ch Channel, m Message) (string, []byte, http.Header, error) {
	hdr := http.Header{}
	switch ch.Type {
	case TypeNtfy:
		base, topic, err := NtfyTopic(ch.URL)
		if err != nil {
			return "", nil, nil, err
		}
		if ch.Token != "" {
			hdr.Set("Authorization", "Bearer "+ch.Token)
		}
		body, err := json.Marshal(ntfyMessage{Topic: topic, Title: m.Title, Message: m.Text, Priority: NtfyPriority(m),
			Tags: []string{ntfyTag(m)}})
		return base, body, hdr, err
	case TypeDiscord:
		e := discordEmbed{Title: cut(m.Title, 256), Description: cut(m.Text, 4096), Color: color(m),
			Footer: &discordFooter{Text: "Infrastructor · delivery " + strconv.FormatInt(m.DeliveryID, 10)}}
		if !m.Time.IsZero() {
			e.Timestamp = m.Time.UTC().Format(time.RFC3339)
		}
		// allowed_mentions with no parse: an alert's text (a container name, a log line) never pings @everyone.
		body, err := json.Marshal(discordMessage{Username: "Infrastructor", Embeds: []discordEmbed{e},
			AllowedMentions: map[string][]string{"parse": {}}})
		return ch.Token, body, hdr, err
	case TypeSlack:
		text := "*" + slackEscape(m.Title) + "*"
		if m.Text != "" {
			text += "\n" + slackEscape(m.Text)
		}
		body, err := json.Marshal(map[string]any{"text": cut(text, 3000)})
		return ch.Token, body, hdr, err
	case TypeTelegram:
		base := strings.TrimSuffix(ch.URL, "/")
		if base == "" {
			base = TelegramAPI
		}
		text := m.Title
		if m.Text != "" {
			text += "\n\n" + m.Text
		}
		// Plain text (no parse_mode): alert texts need no escaping and cannot break the markup.
		body, err := json.Marshal(map[string]any{"chat_id": ch.Config.ChatID, "text": cut(text, 4096),
			"disable_web_page_preview": true})
		return base + "/bot" + ch.Token + "/sendMessage", body, hdr, err
	case TypeMatrix:
		hdr.Set("Authorization", "Bearer "+ch.Token)
		text := m.Title
		html := "<b>" + htmlpkg.EscapeString(m.Title) + "</b>"
		if m.Text != "" {
			text += "\n\n" + m.Text
			html += "<br><br>" + strings.ReplaceAll(htmlpkg.EscapeString(m.Text), "\n", "<br>")
		}
		// m.text rather than m.notice: the default push rules keep notices silent, and an alert should ring.
		body, err := json.Marshal(map[string]any{"msgtype": "m.text", "body": cut(text, 16000),
			"format": "org.matrix.custom.html", "formatted_body": cut(html, 32000)})
		return MatrixSendURL(ch.URL, ch.Config.RoomID, MatrixTxnID(m)), body, hdr, err
	}
	return "", nil, nil, fmt.Errorf("send to channel type %q: unknown type", ch.Type)
}

type ntfyMessage struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title,omitempty"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags,omitempty"`
}

// NtfyPriority maps a message to ntfy's 1-5 scale: critical 5 (urgent), warning 4, resolved and info 3.
func NtfyPriority(m Message) int {
	if m.Kind == "resolved" {
		return 3
	}
	switch m.Severity {
	case "critical":
		return 5
	case "warning":
		return 4
	}
	return 3
}

// ntfyTag is the emoji short code ntfy shows in front of the title.
func ntfyTag(m Message) string {
	switch {
	case m.Kind == "resolved":
		return "white_check_mark"
	case m.Severity == "critical":
		return "rotating_light"
	case m.Severity == "warning":
		return "warning"
	}
	return "information_source"
}

type discordMessage struct {
	Username        string              `json:"username"`
	Embeds          []discordEmbed      `json:"embeds"`
	AllowedMentions map[string][]string `json:"allowed_mentions"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordFooter struct {
	Text string `json:"text"`
}

// color is the side bar colour of a Discord embed: red critical, amber warning, green resolved, blue otherwise.
func color(m Message) int {
	switch {
	case m.Kind == "resolved":
		return 0x2ECC71
	case m.Severity == "critical":
		return 0xE74C3C
	case m.Severity == "warning":
		return 0xF1C40F
	}
	return 0x3498DB
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning (links and mentions).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cut shortens s to at most n characters (not bytes), marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// MatrixSendURL is the client-server API endpoint that sends an m.room.message event with transaction ID txnID to
// the room.
func MatrixSendURL(homeserver, roomID, txnID string) string {
	return strings.TrimSuffix(homeserver, "/") + "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) +
		"/send/m.room.message/" + url.PathEscape(txnID)
}

// MatrixTxnID is the transaction ID of a message: the same for every attempt at one delivery, so a homeserver
// that took a send whose answer was lost answers the retry with the first event instead of posting it twice. The
// digest of the stored text keeps deliveries of another installation (or a restored database) whose IDs repeat
// from being taken for retries under a shared access token.
func MatrixTxnID(m Message) string {
	sum := sha256.Sum256([]byte(m.Kind + "\x00" + m.Severity + "\x00" + m.Title + "\x00" + m.Text))
	return "infrastructor-" + strconv.FormatInt(m.DeliveryID, 10) + "-" + hex.EncodeToString(sum[:6])
}

// retryAfterBody reads the wait a chat service puts in its 429 answer's body when it sends no Retry-After header:
// Discord {"retry_after": 1.5}, Telegram {"parameters": {"retry_after": 5}} (both in seconds), Matrix
// {"retry_after_ms": 2000}.
func retryAfterBody(body string) time.Duration {
	var v struct {
		RetryAfter   float64 `json:"retry_after"`
		RetryAfterMS float64 `json:"retry_after_ms"`
		Parameters   struct {
			RetryAfter float64 `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal([]byte(body), &v) != nil {
		return 0
	}
	s := max(v.RetryAfter, v.Parameters.RetryAfter, v.RetryAfterMS/1000)
	if s <= 0 || s > 3600 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// RedactURL is what the API shows of a URL that is a credential: its scheme and host.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/…"
}
