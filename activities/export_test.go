package activities

import (
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/store"
)

// SetSystemLogScript points a's system log searches at script instead of journal.Script, for tests that read
// test journal files and syslog files.
func SetSystemLogScript(a *Activities, script func(journal.Filter) string) {
	a.systemLogScript = script
}

// SetJournalTailCommand replaces journal.TailCommand for a's journald tails, for tests that follow a test journal
// file.
func SetJournalTailCommand(a *Activities, cmd func(journal.Filter, string) string) {
	a.journalTailCommand = cmd
}

// EvaluateWithinPoll lets the package's external tests drive a's in-poll evaluation without an SSH device. A
// function, not a method: every exported method of Activities is registered as an activity.
func EvaluateWithinPoll(a *Activities, w *store.PollWrite, res *EvaluateAlertsResult) {
	a.evaluateWithinPoll(w, res)
}
