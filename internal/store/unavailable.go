package store

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says PostgreSQL could not be reached or went away (refused or broken
// connection, a server shutting down, restarting or still starting), as opposed to a statement that failed.
// Repeating the same statement once the server is back can succeed, so callers wait and retry instead of
// failing the work they do (#15).
func Unavailable(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	case errors.As(err, &connectErr), errors.As(err, &opErr), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}
