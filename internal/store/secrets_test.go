package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TestSealChannelSecrets: credentials stored in the clear before encryption existed are sealed at start-up, once;
// values already sealed, and unset ones, are left alone (#15).
func TestSealChannelSecrets(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	box, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	require.NoError(t, err)
	legacy, err := store.CreateChannel(ctx, db, &store.Channel{Name: "old", Type: "gotify", URL: "http://192.168.1.5/",
		Token: "PlainToken-1", MinSeverity: "warning", Enabled: true, RatePerMinute: 30})
	require.NoError(t, err)
	sealed, err := box.Seal("SealedSecret-2")
	require.NoError(t, err)
	current, err := store.CreateChannel(ctx, db, &store.Channel{Name: "new", Type: "webhook", URL: "http://192.168.1.6/",
		Secret: sealed, MinSeverity: "warning", Enabled: true, RatePerMinute: 30})
	require.NoError(t, err)

	res, err := store.SealChannelSecrets(ctx, db, box)
	require.NoError(t, err)
	require.Equal(t, 1, res.Sealed)
	require.Empty(t, res.Unreadable)

	var rows string
	require.NoError(t, db.QueryRow(ctx, `SELECT string_agg(token || ' ' || secret, ' ') FROM notification_channels`).Scan(&rows))
	require.NotContains(t, rows, "PlainToken")
	got, err := store.GetChannel(ctx, db, legacy.ID)
	require.NoError(t, err)
	require.True(t, secret.IsSealed(got.Token))
	require.Empty(t, got.Secret, "an unset secret stays unset")
	plain, err := box.Open(got.Token)
	require.NoError(t, err)
	require.Equal(t, "PlainToken-1", plain)
	got, err = store.GetChannel(ctx, db, current.ID)
	require.NoError(t, err)
	require.Equal(t, sealed, got.Secret, "a sealed value is not sealed again")

	res, err = store.SealChannelSecrets(ctx, db, box)
	require.NoError(t, err)
	require.Zero(t, res.Sealed, "idempotent")

	other, err := secret.New(bytes.Repeat([]byte{8}, secret.KeySize))
	require.NoError(t, err)
	res, err = store.SealChannelSecrets(ctx, db, other)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"old", "new"}, res.Unreadable, "a different key is reported, not used to re-seal")
}
