package pkgupdate

import (
	"errors"
	"unicode/utf8"
)

// Limits on what Parse returns, whatever a device prints. A real system has a few hundred pending updates at
// most; the limits only bite on broken or hostile output.
const (
	// MaxUpdates is the most updates kept in Report.Updates; the counts still count every update seen, and
	// Report.Truncated says the list was cut.
	MaxUpdates = 5000
	// MaxFieldBytes bounds names, versions and origins; longer values are cut at a UTF-8 boundary.
	MaxFieldBytes = 256
	// MaxMessages bounds Report.Messages (error lines from the package manager).
	MaxMessages = 20
	// MaxMessageBytes bounds one message.
	MaxMessageBytes = 512
	// MaxRebootPackages bounds Report.RebootPackages.
	MaxRebootPackages = 100
	// maxInstalled bounds the installed-package index read from rpm -qa; a system with more packages loses the
	// current versions of the rest, nothing else.
	maxInstalled = 50000
	// maxSecurity bounds the security advisory index of dnf/yum.
	maxSecurity = 20000
)

// ErrNoMarkers reports output that is not from Script at all (no manager line): the script did not run.
var ErrNoMarkers = errors.New("pkgupdate: output has no manager marker")

func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
