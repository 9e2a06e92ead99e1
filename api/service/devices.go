package service

import (
	"net/http"
)

// TemporalUnavailable answers a failed poll-loop start or stop: the change was not made.
func TemporalUnavailable(err error) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return Errorf(http.StatusServiceUnavailable, "temporal_unavailable",
		"the poll loop could not be started or stopped (is Temporal reachable?); nothing was changed, retry later")
}
