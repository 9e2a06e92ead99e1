package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// bootstrapEnv is a migrated database without any token, and a configuration with its own data directory.
func bootstrapEnv(t *testing.T) (*pgxpool.Pool, *config.Config) {
	t.Helper()
	pool := testdb.Pool(t)
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = filepath.Join(t.TempDir(), "data") // not created yet: bootstrap makes it
	return pool, cfg
}

// scopesOf authenticates secret the way every request does and returns the token's scopes, or nil.
func authAs(t *testing.T, pool *pgxpool.Pool, cfg *config.Config, secret string) *store.Token {
	t.Helper()
	srv := api.New(api.Deps{Config: cfg, Pool: pool, Log: quiet})
	tok, err := srv.Authenticate(context.Background(), secret)
	if err != nil {
		return nil
	}
	return tok
}

func countTokens(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	n, err := store.CountTokens(context.Background(), pool)
	require.NoError(t, err)
	return n
}

func TestBootstrapGeneratesOneAdminToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, cfg := bootstrapEnv(t)
	require.NoError(t, api.BootstrapAdminToken(ctx, pool, cfg, quiet))

	path := filepath.Join(cfg.DataDir, api.AdminTokenFile)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	secret := strings.TrimSpace(string(b))
	tok := authAs(t, pool, cfg, secret)
	require.NotNil(t, tok, "the written token authenticates")
	require.True(t, tok.Has(store.ScopeAdmin))
	require.Equal(t, 1, countTokens(t, pool))

	// A second start changes nothing.
	require.NoError(t, api.BootstrapAdminToken(ctx, pool, cfg, quiet))
	require.Equal(t, 1, countTokens(t, pool))
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, again)
}

func TestBootstrapTightensAnExistingFile(t *testing.T) {
	t.Parallel()
	pool, cfg := bootstrapEnv(t)
	// A file left from an earlier database, readable by everyone.
	require.NoError(t, os.MkdirAll(cfg.DataDir, 0o755))
	path := filepath.Join(cfg.DataDir, api.AdminTokenFile)
	require.NoError(t, os.WriteFile(path, []byte("stale\n"), 0o644))
	require.NoError(t, os.Chmod(path, 0o644))

	require.NoError(t, api.BootstrapAdminToken(context.Background(), pool, cfg, quiet))
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "a secret must never sit in a world-readable file")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotNil(t, authAs(t, pool, cfg, strings.TrimSpace(string(b))))
}

func TestBootstrapSkipsWhenTokensExist(t *testing.T) {
	t.Parallel()
	pool, cfg := bootstrapEnv(t)
	secret, err := store.NewSecret()
	require.NoError(t, err)
	_, err = store.CreateToken(context.Background(), pool, "existing", []string{store.ScopeRead}, nil, secret)
	require.NoError(t, err)
	require.NoError(t, api.BootstrapAdminToken(context.Background(), pool, cfg, quiet))
	require.Equal(t, 1, countTokens(t, pool))
	_, err = os.Stat(filepath.Join(cfg.DataDir, api.AdminTokenFile))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBootstrapStoresConfiguredSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, cfg := bootstrapEnv(t)
	cfg.AdminToken = "my-own-admin-token-of-at-least-32-chars"
	require.NoError(t, api.BootstrapAdminToken(ctx, pool, cfg, quiet))
	require.NoError(t, api.BootstrapAdminToken(ctx, pool, cfg, quiet))
	require.Equal(t, 1, countTokens(t, pool), "the same secret is stored once")
	tok := authAs(t, pool, cfg, cfg.AdminToken)
	require.NotNil(t, tok)
	require.True(t, tok.Has(store.ScopeAdmin))
	_, err := os.Stat(filepath.Join(cfg.DataDir, api.AdminTokenFile))
	require.ErrorIs(t, err, os.ErrNotExist, "no file when the secret comes from the environment")

	// Through HTTP as well.
	srv := api.New(api.Deps{Config: cfg, Pool: pool, Log: quiet})
	r := mustRequest(t, "GET", "/api/v1/tokens")
	r.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	resp, err := srv.App().Test(r, -1)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBootstrapConcurrentCreatesOne(t *testing.T) {
	t.Parallel()
	pool, cfg := bootstrapEnv(t)
	const starts = 6
	errs := make([]error, starts)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			errs[i] = api.BootstrapAdminToken(context.Background(), pool, cfg, quiet)
		}()
	}
	close(begin)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, countTokens(t, pool))
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, api.AdminTokenFile))
	require.NoError(t, err)
	require.NotNil(t, authAs(t, pool, cfg, strings.TrimSpace(string(b))), "the file holds the one stored token")
}
