package activities

import "github.com/infrastructor/infrastructor/internal/store"

// EvaluateWithinPoll lets the package's external tests drive the in-poll evaluation without an SSH device.
func (a *Activities) EvaluateWithinPoll(w *store.PollWrite, res *EvaluateAlertsResult) {
	a.evaluateWithinPoll(w, res)
}
