package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/infrastructor/infrastructor/migrations"
)

// migrateTimescaleDB converts an installation made on plain PostgreSQL to TimescaleDB (migrations.ConvertToTimescaleDB)
// and prints what it converted.
func migrateTimescaleDB(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, log, err := setup(stderr)
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg, roleMigrate)
	if err != nil {
		return err
	}
	defer pool.Close()
	converted, err := migrations.ConvertToTimescaleDB(ctx, pool, log)
	if err != nil {
		return err
	}
	if len(converted) == 0 {
		fmt.Fprintln(stdout, "the time-series tables already are TimescaleDB hypertables; nothing to convert")
		return nil
	}
	fmt.Fprintf(stdout, "converted to TimescaleDB hypertables: %s\n", strings.Join(converted, ", "))
	return nil
}
