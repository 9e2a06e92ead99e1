package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// channelRoutes registers notification channels and their delivery history (admin: channels hold credentials).
func (s *Server) channelRoutes(v1 fiber.Router) {
	admin := require(store.ScopeAdmin)
	v1.Get("/notification-channels", admin, s.listChannels)
	v1.Post("/notification-channels", admin, s.createChannel)
	v1.Get("/notification-channels/:id", admin, s.getChannel)
	v1.Patch("/notification-channels/:id", admin, s.updateChannel)
	v1.Delete("/notification-channels/:id", admin, s.deleteChannel)
	v1.Post("/notification-channels/:id/test", admin, s.testChannel)
	v1.Get("/notification-deliveries", admin, s.listDeliveries)
}

func (s *Server) listChannels(c *fiber.Ctx) error {
	chs, err := store.ListChannels(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	return c.JSON(page(chs, nil))
}

func (s *Server) loadChannel(c *fiber.Ctx) (*store.Channel, error) {
	return load(c, s, "notification channel", store.GetChannel)
}

func (s *Server) getChannel(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

func (s *Server) createChannel(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	ch := &store.Channel{MinSeverity: alert.SeverityWarning, Enabled: true, RatePerMinute: 30}
	if err := s.decodeChannel(c.UserContext(), raw, ch); err != nil {
		return err
	}
	out, err := store.CreateChannel(c.UserContext(), s.Pool, ch)
	if errors.Is(err, store.ErrConflict) {
		return service.Errorf(http.StatusConflict, "conflict", "a notification channel named "+ch.Name+" already exists")
	}
	if err != nil {
		return err
	}
	setAudit(c, "notification_channel.create", out.ID.String(), map[string]any{"name": out.Name, "type": out.Type})
	return c.Status(http.StatusCreated).JSON(out)
}

func (s *Server) updateChannel(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	if err := s.decodeChannel(c.UserContext(), raw, ch); err != nil {
		return err
	}
	setAudit(c, "notification_channel.update", ch.ID.String(), map[string]any{"name": ch.Name})
	out, err := store.UpdateChannel(c.UserContext(), s.Pool, ch)
	if errors.Is(err, store.ErrConflict) {
		return service.Errorf(http.StatusConflict, "conflict", "a notification channel named "+ch.Name+" already exists")
	}
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// decodeChannel applies the fields present to ch. A token or secret absent from the body keeps the stored one;
// "" clears it; a new one is stored encrypted (#15). Credentials never appear in errors or the audit log. For
// Discord and Slack the webhook URL is the credential: it is sealed into the token and only its host is shown. A
// config given replaces the stored one.
func (s *Server) decodeChannel(ctx context.Context, raw map[string]json.RawMessage, ch *store.Channel) error {
	d := newFieldDecoder(raw)
	var token, sec string
	oldType := ch.Type
	d.get("name", &ch.Name, "a string")
	d.get("type", &ch.Type, "a string")
	newURL := d.get("url", &ch.URL, "a string")
	newToken := d.get("token", &token, "a string")
	newSecret := d.get("secret", &sec, "a string")
	newConfig := s.decodeChannelConfig(d, ch)
	d.get("min_severity", &ch.MinSeverity, "a string")
	d.get("enabled", &ch.Enabled, "a boolean")
	d.get("rate_per_minute", &ch.RatePerMinute, "an integer")
	if msg := service.ValidateName(ch.Name); msg != "" {
		d.fail("name", msg)
	}
	typeChanged := oldType != "" && oldType != ch.Type
	if typeChanged && notify.URLIsCredential(oldType) {
		// The stored token is the old type's webhook URL and the stored URL only its host: neither means
		// anything (and the first must not be sent) anywhere else.
		if !newToken {
			ch.Token = ""
		}
		if !newURL {
			ch.URL = ""
		}
	}
	hasToken := ch.Token != ""
	if newToken {
		hasToken = token != ""
	}
	checkURL := true
	switch ch.Type {
	case notify.TypeGotify:
		if !hasToken {
			d.fail("token", "is required for gotify (an application token)")
		}
	case notify.TypeWebhook:
	case notify.TypeNtfy:
		if _, _, err := notify.NtfyTopic(ch.URL); err != nil && ch.URL != "" {
			d.fail("url", "must be the ntfy topic's URL, e.g. https://ntfy.sh/my-alerts: "+err.Error())
		}
	case notify.TypeDiscord, notify.TypeSlack:
		if newToken {
			d.fail("token", "is not used by "+ch.Type+": the webhook URL is its credential (set url)")
		}
		if !newURL && (oldType != ch.Type || !hasToken) {
			d.fail("url", "is required for "+ch.Type+" (the webhook URL)")
		}
	case notify.TypeTelegram:
		if !hasToken {
			d.fail("token", "is required for telegram (the bot token from @BotFather)")
		} else if newToken && !notify.ValidTelegramToken(token) {
			d.fail("token", "must be a bot token such as 123456:ABC-DEF...")
		}
		if ch.URL == "" {
			ch.URL = notify.TelegramAPI
		}
	case notify.TypeMatrix:
		if !hasToken {
			d.fail("token", "is required for matrix (the access token of the account that sends)")
		}
		if ch.URL == "" {
			d.fail("url", "is required for matrix (the homeserver's URL, e.g. https://matrix.example.org)")
		}
	case notify.TypeEmail:
		checkURL = false
		if newURL && ch.URL != "" {
			d.fail("url", "is not used by email: the server is config.smtp_host")
		}
		ch.URL = ""
		switch {
		case hasToken && ch.Config.Username == "":
			d.fail("config.username", "is required with a token (the token is the SMTP password)")
		case !hasToken && ch.Config.Username != "":
			d.fail("token", "is required with config.username (the SMTP password)")
		}
		if (newConfig || typeChanged) && ch.Config.SMTPHost != "" {
			if err := s.notifyTargets().CheckHost(ctx, nil, ch.Config.SMTPHost); err != nil {
				d.fail("config.smtp_host", "must not be a loopback, link-local or cloud metadata address: "+err.Error())
			}
		}
	default:
		d.fail("type", "must be "+service.EnumText(notify.Types))
	}
	for field, msg := range notify.ValidateConfig(ch.Type, ch.Config) {
		d.fail(field, msg)
	}
	if checkURL {
		s.checkChannelURL(ctx, d, ch.URL, newURL)
	}
	if notify.URLIsCredential(ch.Type) && newURL {
		token, newToken = ch.URL, true
		ch.URL = notify.RedactURL(token)
		if len(token) > 512 {
			d.fail("url", "must be at most 512 characters")
			token = ""
		}
	}
	if len(token) > 512 {
		d.fail("token", "must be at most 512 characters")
	}
	if len(sec) > 512 {
		d.fail("secret", "must be at most 512 characters")
	}
	if ch.MinSeverity != alert.SeverityInfo && ch.MinSeverity != alert.SeverityWarning && ch.MinSeverity != alert.SeverityCritical {
		d.fail("min_severity", "must be info, warning or critical")
	}
	if ch.RatePerMinute < 1 || ch.RatePerMinute > 10000 {
		d.fail("rate_per_minute", "must be between 1 and 10000")
	}
	if err := d.finish(); err != nil {
		return err
	}
	for _, f := range []struct {
		given bool
		plain string
		dst   *string
	}{{newToken, token, &ch.Token}, {newSecret, sec, &ch.Secret}} {
		if !f.given {
			continue
		}
		sealed, err := s.Secrets.Seal(f.plain)
		if errors.Is(err, secret.ErrNoKey) {
			return service.Errorf(http.StatusServiceUnavailable, "unavailable", "channel credentials cannot be stored: no secret key is configured")
		}
		if err != nil {
			return err
		}
		*f.dst = sealed
	}
	return nil
}

// checkChannelURL checks an http(s) channel URL; its address only when it is newly set, so a channel saved before
// the check can still be disabled or renamed (deliveries check every connection anyway).
func (s *Server) checkChannelURL(ctx context.Context, d *fieldDecoder, raw string, isNew bool) {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		d.fail("url", "must be an http(s) URL with a host and no user:password")
	} else if isNew {
		if err := s.notifyTargets().CheckURL(ctx, raw); err != nil {
			d.fail("url", "must not point at a loopback, link-local or cloud metadata address: "+err.Error())
		}
	}
}

// decodeChannelConfig applies a "config" object (null clears it) to ch, naming bad settings as config.<name>,
// and reports whether one was given.
func (s *Server) decodeChannelConfig(d *fieldDecoder, ch *store.Channel) bool {
	var raw map[string]json.RawMessage
	given := d.get("config", &raw, "an object")
	if d.isNull["config"] {
		ch.Config = notify.Config{}
		return true
	}
	if !given {
		return false
	}
	var cfg notify.Config
	cd := newFieldDecoder(raw)
	cd.get("smtp_host", &cfg.SMTPHost, "a string")
	cd.get("smtp_port", &cfg.SMTPPort, "an integer")
	cd.get("smtp_security", &cfg.SMTPSecurity, "starttls or tls")
	cd.get("username", &cfg.Username, "a string")
	cd.get("from", &cfg.From, "a string")
	cd.get("to", &cfg.To, "a list of mail addresses")
	cd.get("chat_id", &cfg.ChatID, "a string")
	cd.get("room_id", &cfg.RoomID, "a string")
	for k := range raw {
		if !cd.seen[k] {
			cd.errs[k] = "unknown setting"
		}
	}
	for k, msg := range cd.errs {
		d.fail("config."+k, msg)
	}
	ch.Config = cfg
	return true
}

// notifyTargets are the addresses channels may point at (INFRA_NOTIFY_ALLOW_LOOPBACK).
func (s *Server) notifyTargets() notify.Targets {
	return notify.Targets{AllowLoopback: s.Config != nil && s.Config.NotifyAllowLoopback}
}

func (s *Server) deleteChannel(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	setAudit(c, "notification_channel.delete", ch.ID.String(), map[string]any{"name": ch.Name})
	if err := store.DeleteChannel(c.UserContext(), s.Pool, ch.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// testChannel sends a test notice through a Notify workflow and answers with the delivery: state sent, or
// pending with the receiver's error when it did not land within the wait (the workflow keeps retrying briefly).
func (s *Server) testChannel(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	sender := s.Workflows
	if sender == nil {
		return service.Errorf(http.StatusServiceUnavailable, "unavailable", "notifications are not available on this server")
	}
	id, err := activities.QueueTestNotice(c.UserContext(), s.Pool, ch.ID, "Infrastructor test notification",
		"This is a test of the notification channel "+ch.Name+".")
	if err != nil {
		return err
	}
	setAudit(c, "notification_channel.test", ch.ID.String(), map[string]any{"delivery_id": id})
	setAuditWorkflow(c, workflows.NotifyWorkflowID("test/"+strconv.FormatInt(id, 10)))
	ctx, cancel := context.WithTimeout(c.UserContext(), service.TestSendWait)
	defer cancel()
	if _, err := sender.SendTest(ctx, id); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.Log.Warn("test notification", "channel", ch.ID, "delivery", id, "err", err)
	}
	d, err := store.GetDelivery(context.WithoutCancel(c.UserContext()), s.Pool, id)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) listDeliveries(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.DeliveryFilter{State: c.Query("state"), Limit: limit}
	fields := map[string]string{}
	for name, dst := range map[string]**uuid.UUID{"channel_id": &f.ChannelID, "alert_id": &f.AlertID} {
		if v := c.Query(name); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				fields[name] = "must be a UUID"
			}
			*dst = &id
		}
	}
	switch f.State {
	case "", store.DeliveryPending, store.DeliverySent, store.DeliveryFailed:
	default:
		fields["state"] = "must be pending, sent or failed"
	}
	if cursor != "" {
		if f.Before, err = strconv.ParseInt(cursor, 10, 64); err != nil || f.Before <= 0 {
			fields["cursor"] = "is not a cursor this API returned"
		}
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	ds, next, err := store.ListDeliveries(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page(ds, idCursor(next)))
}
