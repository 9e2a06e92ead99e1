// Package browser drives the dashboard in a real Chromium (Debian's chromium package, through the DevTools
// protocol with chromedp) against a whole running Infrastructor: PostgreSQL, Temporal, the worker, the API with
// its WebSocket hub, and devices that are real OpenSSH servers driving a real Docker engine.
//
// Without Chromium the tests skip, except under CI=true, where they fail. Screenshots of every page land in
// INFRA_BROWSER_ARTIFACTS (default: a directory under the system's temporary directory, logged); with
// INFRA_UPDATE_SCREENSHOTS=1 they are also copied to docs/screenshots for the README.
package browser

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// chromiumPath finds the browser: INFRA_CHROMIUM, then chromium or chromium-browser on PATH. Without one the test
// skips, or fails in CI, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("INFRA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium not found (install Debian's chromium package: apt-get install -y chromium, or set INFRA_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run the browser tests")
	}
	t.Skip(msg + "; skipping the browser tests")
	return ""
}

// dashboard is a running Infrastructor whose API (with a WebSocket hub, as `infrastructor up` builds it) is
// reached through a proxy the test can cut, to take the live stream down.
type dashboard struct {
	*teststack.Stack
	t     *testing.T
	proxy *cutProxy
	// Base is the dashboard's URL as the browser sees it (through the proxy).
	Base string
}

func startDashboard(t *testing.T, opts ...teststack.Option) *dashboard {
	t.Helper()
	s := teststack.Start(t, opts...)
	live := s.LiveAPI(t, func(cfg *config.Config) {
		cfg.NotifyAllowLoopback = true
		cfg.TemporalUIURL = "http://127.0.0.1:8233"
	})
	p := newCutProxy(t, live.Addr)
	return &dashboard{Stack: s, t: t, proxy: p, Base: "http://" + p.Addr()}
}

// cutProxy forwards TCP connections to the API. cut closes every open connection and refuses new ones until
// restore: to the browser, the server went away.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	refuse bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

// pageWatch is installed in every document before its own scripts run: it records Content-Security-Policy
// violations and uncaught errors, which the test asserts are absent.
const pageWatch = `window.__csp = []; window.__errors = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason && e.reason.stack || e.reason)));`

// browser is one Chromium tab.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-component-update", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first call starts the browser. It must run on the tab's own context: a browser started under a shorter
	// context ends with it.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageWatch})
	require.NoError(t, err, "start Chromium %s", exe)
	dir := os.Getenv("INFRA_BROWSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "infrastructor-browser")
	}
	dir = filepath.Join(dir, t.Name())
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots: %s", dir)
	return &browser{t: t, ctx: ctx, artifacts: dir}
}

// do runs actions with a deadline.
func (b *browser) do(within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluate %s", expr)
	return v
}

// waitFor polls a JavaScript predicate in the page until it is truthy, failing with what after within. It polls
// from Go, so a navigation in between (a form post, a reload) is just one more try.
func (b *browser) waitFor(within time.Duration, what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
	tctx, tcancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer tcancel()
	text, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText.slice(0, 3000) + '\n' + JSON.stringify({csp: window.__csp, errors: window.__errors})`))
	b.t.Fatalf("waiting for %s (%s) for %s: last error %v\npage text:\n%s", what, predicate, within, last, text)
}

// holdRequests makes the tab hold every request whose URL matches pattern (a wildcard pattern, e.g. "*/metrics?*")
// until release is called: a page can be kept in the middle of loading.
func (b *browser) holdRequests(pattern string) (release func()) {
	b.t.Helper()
	var mu sync.Mutex
	var held []fetch.RequestID
	released := false
	cont := func(id fetch.RequestID) error {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		_, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
		return err
	}
	// The listener must not run commands itself (see chromedp.Listen).
	require.NoError(b.t, chromedp.Listen(b.ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if released { // paused after the release, before interception ended
			go func() { _ = cont(e.RequestID) }()
			return
		}
		held = append(held, e.RequestID)
	}))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
	require.NoError(b.t, err)
	return func() {
		mu.Lock()
		released = true
		ids := held
		held = nil
		mu.Unlock()
		require.NotEmpty(b.t, ids, "no request matching %s was held", pattern)
		for _, id := range ids {
			require.NoError(b.t, cont(id))
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		_, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{})
		require.NoError(b.t, err)
	}
}

// open navigates to the dashboard path (a hash route such as "#/alerts") and waits for its heading.
func (b *browser) open(base, route, heading string) {
	b.t.Helper()
	b.do(60*time.Second, chromedp.Navigate(base+"/"+route))
	b.waitFor(60*time.Second, "the "+heading+" page", fmt.Sprintf(`document.querySelector('#page h1')?.textContent === %q`, heading))
}

// click clicks the first element matching a CSS selector.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(30*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// confirm accepts the dashboard's confirmation dialog and returns the text it showed.
func (b *browser) confirm() string {
	b.t.Helper()
	b.waitFor(15*time.Second, "the confirmation dialog", `document.getElementById('confirm').open`)
	text := eval[string](b, `document.getElementById('confirm-text').textContent`)
	b.click("#confirm-ok")
	return text
}

// clean asserts that the page saw no CSP violation and no uncaught error so far.
func (b *browser) clean() {
	b.t.Helper()
	require.Empty(b.t, eval[[]string](b, `window.__csp || []`), "Content-Security-Policy violations")
	require.Empty(b.t, eval[[]string](b, `window.__errors || []`), "uncaught errors in the page")
}

// shot saves a screenshot of the whole page as name.png in the artifacts directory (and in docs/screenshots with
// INFRA_UPDATE_SCREENSHOTS=1).
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.artifacts, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	if os.Getenv("INFRA_UPDATE_SCREENSHOTS") == "1" {
		docs := filepath.Join("..", "..", "docs", "screenshots")
		require.NoError(b.t, os.MkdirAll(docs, 0o755))
		require.NoError(b.t, os.WriteFile(filepath.Join(docs, name+".png"), png, 0o644))
	}
}
