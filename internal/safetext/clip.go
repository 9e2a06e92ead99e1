package safetext

import "unicode/utf8"

// Clip cuts s to at most max bytes (max >= 0) without splitting a UTF-8 sequence. Unlike Clean it removes
// nothing else.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// ClipError returns err with its message cut to max bytes and marked with "..." when it is longer, so an
// error that quotes device output stays small where it is stored and logged; errors.Is and errors.As still see
// err. A nil or short err is returned as it is.
func ClipError(err error, max int) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); len(msg) > max {
		return &clippedError{msg: Clip(msg, max) + "...", err: err}
	}
	return err
}

// clippedError is err with a shortened message.
type clippedError struct {
	msg string
	err error
}

func (e *clippedError) Error() string { return e.msg }
func (e *clippedError) Unwrap() error { return e.err }
