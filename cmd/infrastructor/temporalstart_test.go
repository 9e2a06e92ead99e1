package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
)

// TestWhileTemporalStarts: a namespace Temporal does not serve yet (its cache refreshes after a registration) or an
// unavailable server is retried until the call succeeds; other errors, and the same ones past the limit, are
// returned at once.
func TestWhileTemporalStarts(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := whileTemporalStarts(context.Background(), log, time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.Join(errors.New("create schedule"), serviceerror.NewNamespaceNotFound("default"))
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, calls, "retried until the namespace was served")

	calls = 0
	other := errors.New("permission denied")
	err = whileTemporalStarts(context.Background(), log, time.Minute, func() error { calls++; return other })
	require.ErrorIs(t, err, other)
	require.Equal(t, 1, calls, "other errors are not retried")

	calls = 0
	err = whileTemporalStarts(context.Background(), log, 0, func() error { calls++; return serviceerror.NewUnavailable("down") })
	require.Error(t, err)
	require.Equal(t, 1, calls, "past the limit the error is returned")
}
