package service

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// PollNowTimeout bounds how long POST /devices/{id}/poll waits for the poll's result.
const PollNowTimeout = 2 * time.Minute

// PollError maps a poll-loop error to the envelope: no loop → 409, an update the loop rejected → 409.
func PollError(d *store.Device, err error) error {
	if errors.Is(err, workflows.ErrNotPolling) {
		msg := "device " + d.Name + " is not being polled"
		if !d.Enabled {
			msg += " (it is disabled; PATCH enabled=true first)"
		}
		return Errorf(http.StatusConflict, "not_polling", msg)
	}
	var rejected *serviceerror.InvalidArgument
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return Errorf(http.StatusConflict, "rejected", app.Message())
	}
	if errors.As(err, &rejected) {
		return Errorf(http.StatusConflict, "rejected", rejected.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Errorf(http.StatusGatewayTimeout, "timeout", "no worker answered in time; is a worker running?")
	}
	return err
}

// NullTime is nil for the zero time, else a pointer to t: a JSON null instead of year 1.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ParseTimeParam accepts RFC 3339, unix seconds, or a duration before now ("1h" or "-1h").
func ParseTimeParam(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), nil
	}
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New(`must be an RFC 3339 time, unix seconds, or a duration ago such as "6h"`)
}
