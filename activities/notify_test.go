package activities_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// keyReceiver records the Gotify keys it is sent.
type keyReceiver struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, r.Header.Get(notify.HeaderGotifyKey))
}

func (k *keyReceiver) got() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

// TestDeliverNotificationCredentials: a sealed token is opened for the send; a token stored in the clear before
// encryption still delivers; a different key fails the delivery with a clear error and sends nothing; the
// default sender refuses a loopback receiver (#15).
func TestDeliverNotificationCredentials(t *testing.T) {
	ctx := context.Background()
	db := testdb.Pool(t)
	rcv := &keyReceiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)

	box, err := secret.New(bytes.Repeat([]byte{1}, secret.KeySize))
	require.NoError(t, err)
	other, err := secret.New(bytes.Repeat([]byte{2}, secret.KeySize))
	require.NoError(t, err)
	loopback := &notify.Sender{Targets: notify.Targets{AllowLoopback: true}}
	channel := func(name, token string) *store.Channel {
		ch, err := store.CreateChannel(ctx, db, &store.Channel{Name: name, Type: notify.TypeGotify, URL: srv.URL,
			Token: token, MinSeverity: "warning", Enabled: true, RatePerMinute: 100})
		require.NoError(t, err)
		return ch
	}
	deliver := func(a *activities.Activities, ch *store.Channel) (*store.Delivery, error) {
		id, err := activities.QueueTestNotice(ctx, db, ch.ID, "t", "x")
		require.NoError(t, err)
		_, derr := a.DeliverNotification(ctx, activities.DeliverInput{DeliveryID: id})
		d, err := store.GetDelivery(ctx, db, id)
		require.NoError(t, err)
		return d, derr
	}

	sealed, err := box.Seal("sealed-token")
	require.NoError(t, err)
	enc := channel("sealed", sealed)
	acts := &activities.Activities{DB: db, Secrets: box, Notify: loopback}
	d, err := deliver(acts, enc)
	require.NoError(t, err)
	require.Equal(t, store.DeliverySent, d.State)

	plain := channel("legacy", "legacy-token")
	d, err = deliver(acts, plain)
	require.NoError(t, err)
	require.Equal(t, store.DeliverySent, d.State)
	require.Equal(t, []string{"sealed-token", "legacy-token"}, rcv.got())

	d, err = deliver(&activities.Activities{DB: db, Secrets: other, Notify: loopback}, enc)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.True(t, appErr.NonRetryable(), "a wrong key does not heal by retrying")
	require.Contains(t, err.Error(), "secret key differs")
	require.NotContains(t, err.Error(), sealed)
	require.Equal(t, store.DeliveryFailed, d.State)
	require.Contains(t, d.LastError, "secret key differs")

	d, err = deliver(&activities.Activities{DB: db, Notify: loopback}, enc)
	require.Error(t, err, "no key configured")
	require.Equal(t, store.DeliveryFailed, d.State)

	d, err = deliver(&activities.Activities{DB: db, Secrets: box}, enc)
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.True(t, appErr.NonRetryable(), "a forbidden target does not heal by retrying")
	require.Contains(t, err.Error(), "loopback")
	require.Equal(t, store.DeliveryFailed, d.State)
	require.Len(t, rcv.got(), 2, "nothing more reached the receiver")
}
