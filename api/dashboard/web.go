// Package dashboard serves the web dashboard: the embedded assets and the session sign-in that exchanges an API
// token for a cookie.
package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/web"
)

// Server holds the dashboard's handlers.
type Server struct{ *httpx.Gate }

// New builds the server over the shared gate.
func New(g *httpx.Gate) *Server { return &Server{Gate: g} }

// webCSP is the dashboard's Content-Security-Policy: only its own scripts, styles and connections, no inline code,
// no frames, forms posting only to itself. 'self' in connect-src also admits the same host's ws:// and wss://.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webAsset is one embedded dashboard file, prepared once: its type, ETag and a gzip copy.
type webAsset struct {
	body, gz []byte
	ctype    string
	etag     string
}

// webAssets reads every dashboard file into memory at start-up; they are small (tens of KiB).
func webAssets() map[string]*webAsset {
	out := map[string]*webAsset{}
	files := web.Files()
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &webAsset{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		a.ctype = mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // the system's MIME table may lack these; module scripts need a JavaScript type
		case ".js":
			a.ctype = "text/javascript; charset=utf-8"
		case ".css":
			a.ctype = "text/css; charset=utf-8"
		case ".html":
			a.ctype = "text/html; charset=utf-8"
		case ".svg":
			a.ctype = "image/svg+xml"
		}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body) {
			a.gz = buf.Bytes()
		}
		out[p] = a
		return nil
	})
	return out
}

// Mount serves the dashboard: the page at /, its files under /assets/, and the sign-in exchange under /web/.
func (s *Server) Mount(app fiber.Router) {
	assets := webAssets()
	serve := func(name string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			name := name
			if name == "" {
				name = strings.TrimPrefix(path.Clean("/"+c.Params("*")), "/")
			}
			a, ok := assets[name]
			if !ok || name == "index.html" && c.Path() != "/" {
				return service.NotFound("file")
			}
			webHeaders(c)
			c.Set(fiber.HeaderContentType, a.ctype)
			// Revalidated on every load (a cheap 304), so a new binary's files are never mixed with old ones.
			c.Set(fiber.HeaderCacheControl, "no-cache")
			c.Set(fiber.HeaderETag, a.etag)
			c.Vary(fiber.HeaderAcceptEncoding)
			if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
				return c.SendStatus(http.StatusNotModified)
			}
			if a.gz != nil && strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
				c.Set(fiber.HeaderContentEncoding, "gzip")
				return c.Send(a.gz)
			}
			return c.Send(a.body)
		}
	}
	app.Get("/", serve("index.html"))
	app.Get("/assets/*", serve(""))
	app.Post("/web/session", s.webSignIn)
	app.Get("/web/session", s.webSession)
	app.Delete("/web/session", s.webSignOut)
}

// webHeaders sets the security headers of every dashboard answer.
func webHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", webCSP)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on the page's own POSTs, which
	// the origin check must then refuse.
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if c.Protocol() == "https" {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
}
