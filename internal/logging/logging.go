// Package logging builds the process logger: text on a terminal, JSON otherwise.
package logging

import (
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"
)

// New returns a logger writing to w at level in format "text", "json" or "auto" (text when w is a terminal).
func New(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
