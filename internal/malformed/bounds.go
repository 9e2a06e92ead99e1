package malformed

import (
	"runtime"
	"testing"
)

// Allocated returns the bytes allocated while fn runs. It reads the process-wide counter, so the figure is fn's
// own allocation plus runtime noise only when nothing else runs: the tests that use it are not parallel.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Bound is the allocation allowed to a parser for inputLen bytes of input: perByte bytes per input byte plus
// fixed. Each package picks its constants from what its parsers were measured to need; what the bound catches
// is allocation that grows faster than the input.
func Bound(inputLen, perByte, fixed int) uint64 { return uint64(perByte*inputLen + fixed) }

// CheckText fails the test if s, the text named what, is longer than max bytes.
func CheckText(tb testing.TB, what, s string, max int) {
	tb.Helper()
	if len(s) > max {
		tb.Fatalf("%s is %d bytes, limit %d", what, len(s), max)
	}
}
