package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	must "github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
)

func TestUnavailableClassifiesOutages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		msg  string // "" when the error is not an outage
	}{
		{"disk full", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100"}), msgDatabaseFull},
		{"too many connections", &pgconn.PgError{Code: "53300"}, msgDatabaseFull},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, msgDatabaseDown},
		{"starting up", &pgconn.PgError{Code: "57P03"}, msgDatabaseDown},
		{"connection failure", &pgconn.PgError{Code: "08006"}, msgDatabaseDown},
		{"connect refused", &pgconn.ConnectError{}, msgDatabaseDown},
		{"connection reset", fmt.Errorf("query: %w", &net.OpError{Op: "read", Err: errors.New("reset")}), msgDatabaseDown},
		{"Temporal unavailable", fmt.Errorf("start: %w", serviceerror.NewUnavailable("down")), msgTemporalDown},
		{"Temporal deadline", serviceerror.NewDeadlineExceeded("slow"), msgTemporalDown},
		{"request deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), msgTimedOut},
		{"unique violation", &pgconn.PgError{Code: "23505"}, ""},
		{"syntax error", &pgconn.PgError{Code: "42601"}, ""},
		{"client hung up", context.Canceled, ""},
		{"plain error", errors.New("boom"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, ok := unavailable(tt.err)
			if tt.msg == "" {
				must.False(t, ok, "%v classified as an outage", tt.err)
				return
			}
			must.True(t, ok)
			must.Equal(t, http.StatusServiceUnavailable, e.Status)
			must.Equal(t, tt.msg, e.Message)
		})
	}
}
