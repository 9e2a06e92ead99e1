package zfs

import (
	"errors"
	"fmt"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Limits on what the parsers return, whatever a device prints. Real output is far below them; they only bite
// on broken or hostile output and keep one device from exhausting the worker's memory.
const (
	// MaxPools is the most pools one output may describe; more fails the parse with ErrLimit (a partial list
	// would read as pools that disappeared).
	MaxPools = 256
	// MaxVdevsPerPool bounds the vdevs of one pool, all sections and levels together; more are dropped and
	// pool.Truncated says so.
	MaxVdevsPerPool = 4096
	// MaxVdevDepth bounds the nesting of the vdev tree (root, raidz/mirror, spare/replacing, disk).
	MaxVdevDepth = 8
	// MaxFieldBytes bounds names, states and notes; longer values are cut at a UTF-8 boundary.
	MaxFieldBytes = 1024
	// MaxTextBytes bounds the status and action texts.
	MaxTextBytes = 4096
	// MaxDatasets is the most datasets ParseDatasets accepts and the most datasets a snapshot summary keeps;
	// more fails with ErrLimit.
	MaxDatasets = 100000
	// MaxPageSize bounds a page of ListSnapshots.
	MaxPageSize = 1000
	// maxLineBytes bounds one line of the streamed snapshot listing.
	maxLineBytes = 64 << 10
	// maxErrorBytes bounds an error message: errors quote device output and are stored and logged.
	maxErrorBytes = 512
)

// ErrLimit reports output with more entries than the parser accepts.
var ErrLimit = errors.New("zfs output exceeds the parser's limits")

// Truncated names listed in Pool.Truncated.
const (
	TruncatedVdevs = "vdevs"
	TruncatedText  = "text"
)

// clipError cuts err's message to maxErrorBytes: errors quote device output and are stored and logged.
func clipError(err error) error { return safetext.ClipError(err, maxErrorBytes) }

func tooMany(what string, limit int) error {
	return fmt.Errorf("more than %d %s: %w", limit, what, ErrLimit)
}
