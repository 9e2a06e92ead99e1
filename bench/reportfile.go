package bench

import (
	"encoding/json"
	"os"
)

// writeReport stores a report as base.json (v, indented) and base.md (markdown), creating dir, and returns the two
// paths.
func writeReport(dir, base string, v any, markdown string) (mdPath, jsonPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", append(raw, '\n'), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".md", []byte(markdown), 0o644); err != nil {
		return "", "", err
	}
	return base + ".md", base + ".json", nil
}
