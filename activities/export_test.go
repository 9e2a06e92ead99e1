package activities

import "github.com/infrastructor/infrastructor/internal/journal"

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
