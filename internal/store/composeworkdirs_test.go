package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func TestConfirmComposeWorkdir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "cw")
	_, err := store.ConfirmedComposeWorkdir(ctx, db, d.ID, "demo")
	require.ErrorIs(t, err, store.ErrNotFound)

	tok := uuid.New()
	w := &store.ComposeWorkdir{DeviceID: d.ID, Project: "demo", WorkingDir: "/srv/demo", TokenName: "admin"}
	require.NoError(t, store.ConfirmComposeWorkdir(ctx, db, w, &tok))
	require.False(t, w.ConfirmedAt.IsZero())
	got, err := store.ConfirmedComposeWorkdir(ctx, db, d.ID, "demo")
	require.NoError(t, err)
	require.Equal(t, "/srv/demo", got.WorkingDir)
	require.Equal(t, "admin", got.TokenName)

	// A new confirmation replaces the old one.
	w2 := &store.ComposeWorkdir{DeviceID: d.ID, Project: "demo", WorkingDir: "/srv/new"}
	require.NoError(t, store.ConfirmComposeWorkdir(ctx, db, w2, nil))
	got, err = store.ConfirmedComposeWorkdir(ctx, db, d.ID, "demo")
	require.NoError(t, err)
	require.Equal(t, "/srv/new", got.WorkingDir)
	require.Empty(t, got.TokenName)

	// Unknown device: the foreign key says not found.
	err = store.ConfirmComposeWorkdir(ctx, db, &store.ComposeWorkdir{DeviceID: uuid.New(), Project: "demo", WorkingDir: "/srv/demo"}, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}
