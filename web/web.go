// Package web holds the dashboard (#14): plain ES modules, CSS and one HTML page, embedded in the binary and
// served by the API at /. There is no build step: the files here are what the browser runs.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files returns the dashboard's files, rooted at the directory the page is served from (index.html, app.js, ...).
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded above; its absence is a build error, not a run-time one
	}
	return sub
}
