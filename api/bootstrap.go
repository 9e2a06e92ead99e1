package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/store"
)

// AdminTokenFile is where a generated bootstrap token is written, relative to the data directory.
const AdminTokenFile = "admin.token"

// BootstrapAdminToken makes sure an administrator can log in. With INFRA_ADMIN_TOKEN set, that secret is stored
// as the bootstrap admin token, and the bootstrap token of an earlier secret is revoked (rotating the variable
// retires the old secret). Otherwise, when no token exists at all, one admin token is generated and written to
// $INFRA_DATA_DIR/admin.token (mode 0600); the log names the file, never the secret. Several processes may
// start at once: a transaction-scoped advisory lock makes exactly one of them generate it.
func BootstrapAdminToken(ctx context.Context, pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger) error {
	if cfg.AdminToken != "" {
		revoked, err := store.EnsureBootstrapToken(ctx, pool, "bootstrap (INFRA_ADMIN_TOKEN)", cfg.AdminToken)
		if errors.Is(err, store.ErrBootstrapRevoked) {
			// Other admin tokens may exist, so this is no reason to refuse to start; it is one to say so loudly.
			log.Warn("INFRA_ADMIN_TOKEN names a revoked token and does not work; set a new secret to get a bootstrap token")
			return nil
		}
		if err != nil {
			return fmt.Errorf("store INFRA_ADMIN_TOKEN: %w", err)
		}
		for _, id := range revoked {
			log.Info("revoked the previous INFRA_ADMIN_TOKEN bootstrap token", "token_id", id)
		}
		return nil
	}
	path := filepath.Join(cfg.DataDir, AdminTokenFile)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('infra_bootstrap_token'))"); err != nil {
			return err
		}
		n, err := store.CountTokens(ctx, tx)
		if err != nil || n > 0 {
			return err
		}
		secret, err := store.NewSecret()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
		}
		// Write the file before committing the token, so a token never exists that nobody can read.
		if err := writeSecretFile(path, secret+"\n"); err != nil {
			return err
		}
		if _, err := store.CreateToken(ctx, tx, "bootstrap admin", []string{store.ScopeAdmin}, nil, secret); err != nil {
			return err
		}
		log.Info("generated the first admin API token", "file", path)
		return nil
	})
}

// writeSecretFile replaces path with content, readable by the owner only. os.WriteFile keeps the mode of a file
// that already exists (a world-readable one left by an earlier install would stay so), hence a fresh 0600 file
// renamed into place.
func writeSecretFile(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
