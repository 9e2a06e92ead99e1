package browser

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// axe-core (pinned in package.json and package-lock.json next to this file) is installed with npm ci on first use.
// Without npm the accessibility checks skip with a message, except under CI=true, where they fail.
var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  string
)

func axeSource(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		path := filepath.Join("node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(path); err != nil {
			npm, err := exec.LookPath("npm")
			if err != nil {
				axeErr = "npm is not installed (apt-get install -y npm); it installs axe-core for the accessibility checks"
				return
			}
			cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
			if out, err := cmd.CombinedOutput(); err != nil {
				axeErr = "npm ci (axe-core): " + err.Error() + "\n" + string(out)
				return
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			axeErr = err.Error()
			return
		}
		axeSrc = string(b)
	})
	if axeErr != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(axeErr)
		}
		t.Log("accessibility check skipped: " + axeErr)
	}
	return axeSrc
}

// axeViolation is one serious or critical finding of axe-core.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// accessible runs axe-core on the current page (WCAG 2 A and AA rules) and fails on serious or critical
// violations.
func (b *browser) accessible(page string) {
	b.t.Helper()
	src := axeSource(b.t)
	if src == "" {
		return
	}
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		eval[bool](b, src+";true")
	}
	got := eval[[]axeViolation](b, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
		.then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 200))})))`)
	var lines []string
	for _, v := range got {
		lines = append(lines, v.Impact+" "+v.ID+": "+v.Help+"\n    "+strings.Join(v.Nodes, "\n    "))
	}
	require.Empty(b.t, lines, "accessibility violations on the %s page:\n%s", page, strings.Join(lines, "\n"))
}
