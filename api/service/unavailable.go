package service

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
)

// RetryAfter is what a 503 answer for an unavailable dependency tells the client to wait before trying again: long
// enough for a restarted PostgreSQL or Temporal to accept connections, short enough not to stall a dashboard.
const RetryAfter = 5 * time.Second

// Messages of the 503 answers; clients (and models over MCP) read them to decide to retry.
const (
	msgDatabaseDown = "database unavailable; retry in a few seconds"
	msgDatabaseFull = "database cannot store more data right now (out of disk space or resources); nothing was written; retry later"
	msgTemporalDown = "workflow engine (Temporal) unavailable; retry in a few seconds"
	msgTimedOut     = "the request ran out of time waiting for the database or Temporal; retry in a few seconds"
)

// unavailable classifies err as an outage of PostgreSQL or Temporal, or as the request's own deadline expiring
// while it waited on one of them: each is a 503 with Retry-After (#15), never a 500, because retrying the same
// request later can succeed. Errors are classified by type and SQLSTATE, never by message.
func unavailable(err error) (*Error, bool) {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		opErr      *net.OpError
		tUnavail   *serviceerror.Unavailable
		tDeadline  *serviceerror.DeadlineExceeded
		tNsUnavail *serviceerror.NamespaceUnavailable
	)
	down := func(msg string) (*Error, bool) {
		return Errorf(http.StatusServiceUnavailable, "unavailable", msg), true
	}
	switch {
	case errors.As(err, &pgErr):
		switch {
		// 53: insufficient resources (disk full, out of memory, too many connections).
		case strings.HasPrefix(pgErr.Code, "53"):
			return down(msgDatabaseFull)
		// 08: connection exception; 57P: the server is shutting down, crashed or still starting.
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"):
			return down(msgDatabaseDown)
		}
		return nil, false
	case errors.As(err, &connectErr):
		return down(msgDatabaseDown)
	case errors.As(err, &tUnavail), errors.As(err, &tNsUnavail), errors.As(err, &tDeadline):
		return down(msgTemporalDown)
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return down(msgTimedOut)
	case errors.As(err, &opErr), errors.Is(err, io.ErrUnexpectedEOF):
		// A connection to the database broke mid-query (the API's only raw network peer; Temporal errors arrive as
		// gRPC status errors above).
		return down(msgDatabaseDown)
	}
	return nil, false
}

// IsUnavailable is unavailable for toEnvelope's switch: it sets *e when err is an outage.
func IsUnavailable(err error, e **Error) bool {
	u, ok := unavailable(err)
	if ok {
		*e = u
	}
	return ok
}
