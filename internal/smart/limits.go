package smart

import (
	"errors"
	"fmt"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Limits on what the parsers return, whatever a device prints. Real smartctl output is far below them; they
// only bite on broken or hostile output and keep one device from exhausting the worker's memory. Input size
// is capped before parsing by the SSH pool; these bound the output relative to it.
const (
	// MaxDrives is the most devices ParseScan accepts. More fails the parse with ErrLimit: a partial list
	// would read as drives that disappeared.
	MaxDrives = 1024
	// MaxFieldBytes bounds every string field (model, serial, firmware, names); longer values are cut at a
	// UTF-8 boundary and the cut is listed in Drive.Truncated.
	MaxFieldBytes = 256
	// MaxMessageBytes bounds the smartctl message kept on a drive that could not be read.
	MaxMessageBytes = 512
	// MaxFailedAttributes bounds Drive.ATA.FailedAttributes.
	MaxFailedAttributes = 64
	// maxErrorBytes bounds an error message: errors quote device output and are stored and logged.
	maxErrorBytes = 512
)

// ErrLimit reports output with more entries than the parser accepts.
var ErrLimit = errors.New("smartctl output exceeds the parser's limits")

// clipError cuts err's message to maxErrorBytes: errors quote device output and are stored and logged.
func clipError(err error) error { return safetext.ClipError(err, maxErrorBytes) }

func tooMany(what string, limit int) error {
	return fmt.Errorf("more than %d %s: %w", limit, what, ErrLimit)
}
