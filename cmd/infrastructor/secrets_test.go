package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// TestLoadSecrets: the first start generates the key file and encrypts a token stored in the clear; a start with
// another key says which channels it cannot open; no log line carries a credential (#15).
func TestLoadSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.Pool(t)
	ch, err := store.CreateChannel(ctx, pool, &store.Channel{Name: "phone", Type: "gotify", URL: "http://192.168.1.9/",
		Token: "Clear-Token-77", MinSeverity: "warning", Enabled: true, RatePerMinute: 30})
	require.NoError(t, err)

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := &config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	box, err := loadSecrets(ctx, cfg, pool, log)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(cfg.DataDir, secret.KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.Contains(t, logs.String(), "encrypted notification credentials")
	got, err := store.GetChannel(ctx, pool, ch.ID)
	require.NoError(t, err)
	require.True(t, secret.IsSealed(got.Token))
	plain, err := box.Open(got.Token)
	require.NoError(t, err)
	require.Equal(t, "Clear-Token-77", plain)

	cfg.SecretKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, secret.KeySize))
	_, err = loadSecrets(ctx, cfg, pool, log)
	require.NoError(t, err, "a wrong key does not stop monitoring")
	require.Contains(t, logs.String(), "does not open")
	require.Contains(t, logs.String(), "phone")
	require.NotContains(t, logs.String(), "Clear-Token-77")
	require.NotContains(t, logs.String(), cfg.SecretKey)
}
