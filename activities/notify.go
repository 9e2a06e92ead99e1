package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Application error types of notification deliveries.
const (
	// ErrTypeNotificationRejected means the receiver refused the message for good (bad token, wrong URL).
	ErrTypeNotificationRejected = "NotificationRejected"
	// ErrTypeNotificationWaiting means an earlier notice of the same alert to the same channel is not out yet.
	ErrTypeNotificationWaiting = "NotificationWaiting"
	// ErrTypeRateLimited means the channel has sent its allowance for the current minute.
	ErrTypeRateLimited = "RateLimited"
	// ErrTypeNotificationFailed means the receiver could not take the message now; it is retried.
	ErrTypeNotificationFailed = "NotificationFailed"
)

// NotifyScheduleToClose is how long a notice keeps being retried: a channel down for hours still gets it.
const NotifyScheduleToClose = 24 * time.Hour

// waitingRetry is how soon a notice waiting for an earlier one, or for its channel's rate limit, tries again.
const waitingRetry = 10 * time.Second

// DeliverInput names one queued delivery. Only its ID travels through workflow history; the activity loads the
// message and the channel's credentials from the database.
type DeliverInput struct {
	DeliveryID int64
}

// DeliverResult is the delivery's final state.
type DeliverResult struct {
	State string
}

// defaultSender sends when Activities.Notify is nil: it refuses loopback receivers, like the default settings.
var defaultSender = &notify.Sender{}

func (a *Activities) sender() *notify.Sender {
	if a.Notify != nil {
		return a.Notify
	}
	return defaultSender
}

// DeliverNotification sends one queued notice to its channel. A notice already sent is not sent again (a retry
// after the answer was lost); a notice waits for the earlier notices of its alert on the same channel, so they
// arrive in order; a channel over its rate limit delays the notice. Temporary failures are retried by the
// workflow's retry policy; a rejection marks the delivery failed.
func (a *Activities) DeliverNotification(ctx context.Context, in DeliverInput) (*DeliverResult, error) {
	if a.DB == nil {
		return nil, temporal.NewNonRetryableApplicationError("notify: no database configured", ErrTypeInvalidInput, nil)
	}
	d, err := store.GetDelivery(ctx, a.DB, in.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		// The channel or the alert was deleted, and its deliveries with it.
		return &DeliverResult{State: "deleted"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %d: %w", in.DeliveryID, err)
	}
	if d.State != store.DeliveryPending {
		return &DeliverResult{State: d.State}, nil
	}
	now := a.now()
	waiting, err := store.EarlierPending(ctx, a.DB, d, NotifyScheduleToClose, now)
	if err != nil {
		return nil, fmt.Errorf("delivery %d: check earlier notices: %w", d.ID, err)
	}
	if waiting {
		return nil, temporal.NewApplicationErrorWithOptions("an earlier notice of this alert is not delivered yet",
			ErrTypeNotificationWaiting, temporal.ApplicationErrorOptions{NextRetryDelay: waitingRetry})
	}
	ch, err := store.GetChannel(ctx, a.DB, d.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return &DeliverResult{State: "deleted"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivery %d: load channel: %w", d.ID, err)
	}
	if !ch.Enabled && d.Kind != "test" {
		if err := store.FinishDelivery(ctx, a.DB, d.ID, store.DeliveryFailed, "channel disabled", now); err != nil {
			return nil, err
		}
		return &DeliverResult{State: store.DeliveryFailed}, nil
	}
	sent, err := store.SentSince(ctx, a.DB, ch.ID, now.Add(-time.Minute))
	if err != nil {
		return nil, fmt.Errorf("delivery %d: rate of %s: %w", d.ID, ch, err)
	}
	if sent >= ch.RatePerMinute {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s sent %d messages in the last minute", ch, sent),
			ErrTypeRateLimited, temporal.ApplicationErrorOptions{NextRetryDelay: waitingRetry})
	}
	msg, err := a.message(ctx, d, now)
	if err != nil {
		return nil, err
	}
	target, err := a.openChannel(ch)
	if err != nil {
		// A wrong or missing key: the operator must fix the key, so retrying would only repeat the failure.
		_ = store.FinishDelivery(context.WithoutCancel(ctx), a.DB, d.ID, store.DeliveryFailed, err.Error(), now)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	err = a.sender().Send(ctx, target, msg)
	var rej *notify.RejectedError
	var temp *notify.TemporaryError
	switch {
	case err == nil:
		if err := store.FinishDelivery(context.WithoutCancel(ctx), a.DB, d.ID, store.DeliverySent, "", a.now()); err != nil {
			return nil, fmt.Errorf("delivery %d sent but not recorded: %w", d.ID, err)
		}
		return &DeliverResult{State: store.DeliverySent}, nil
	case errors.As(err, &rej):
		_ = store.FinishDelivery(context.WithoutCancel(ctx), a.DB, d.ID, store.DeliveryFailed, rej.Error(), now)
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", ch, rej), ErrTypeNotificationRejected, nil)
	case errors.As(err, &temp):
		_ = store.FinishDelivery(context.WithoutCancel(ctx), a.DB, d.ID, store.DeliveryPending, temp.Error(), now)
		a.logWarn(ctx, "notification not delivered; will retry", "delivery", d.ID, "channel", ch.ID, "err", temp.Error())
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %v", ch, temp), ErrTypeNotificationFailed,
			temporal.ApplicationErrorOptions{NextRetryDelay: temp.RetryAfter})
	}
	_ = store.FinishDelivery(context.WithoutCancel(ctx), a.DB, d.ID, store.DeliveryFailed, err.Error(), now)
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", ch, err), ErrTypeInvalidInput, nil)
}

// openChannel decrypts the channel's credentials for one send. The plaintext lives only in this activity's
// memory: it is never part of an input, a result or an error, so it never reaches workflow history.
func (a *Activities) openChannel(ch *store.Channel) (notify.Channel, error) {
	token, err := a.Secrets.Open(ch.Token)
	if err != nil {
		return notify.Channel{}, fmt.Errorf("%s: token: %w", ch, err)
	}
	sec, err := a.Secrets.Open(ch.Secret)
	if err != nil {
		return notify.Channel{}, fmt.Errorf("%s: secret: %w", ch, err)
	}
	return notify.Channel{Type: ch.Type, URL: ch.URL, Token: token, Secret: sec, Config: ch.Config}, nil
}

// message builds the notice from the delivery and its alert.
func (a *Activities) message(ctx context.Context, d *store.Delivery, now time.Time) (notify.Message, error) {
	m := notify.Message{DeliveryID: d.ID, Kind: d.Kind, Severity: d.Severity, Title: d.Title, Text: d.Message, Time: now}
	if d.AlertID == nil {
		return m, nil
	}
	al, err := store.GetAlert(ctx, a.DB, *d.AlertID)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("delivery %d: load alert: %w", d.ID, err)
	}
	m.AlertID, m.RuleID, m.RuleName = al.ID.String(), al.RuleID.String(), al.RuleName
	m.DeviceID, m.DeviceName, m.Subject = al.DeviceID.String(), al.DeviceName, al.Subject
	return m, nil
}

// FailDelivery marks a delivery failed for good after its retries ran out.
func (a *Activities) FailDelivery(ctx context.Context, in DeliverInput, reason string) error {
	return store.AbandonDelivery(ctx, a.DB, in.DeliveryID, reason)
}

func (a *Activities) logWarn(ctx context.Context, msg string, kv ...any) {
	if a.Log != nil {
		a.Log.WarnContext(ctx, msg, kv...)
		return
	}
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn(msg, kv...)
	}
}

// QueueTestNotice queues a test message for a channel and returns the delivery ID, for the test-send endpoint.
func QueueTestNotice(ctx context.Context, db store.DBTX, channelID uuid.UUID, title, text string) (int64, error) {
	return store.InsertDelivery(ctx, db, &store.Delivery{ChannelID: channelID, Kind: "test", Severity: "info",
		Title: title, Message: text})
}
