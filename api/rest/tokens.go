package rest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

func (s *Server) createToken(c *fiber.Ctx) error {
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	fd := newFieldDecoder(raw)
	var name string
	if !fd.get("name", &name, "a string") {
		fd.fail("name", "is required")
	} else if msg := service.ValidateName(name); msg != "" {
		fd.fail("name", msg)
	}
	var scopes []string
	if !fd.get("scopes", &scopes, `an array of "read", "operate" or "admin"`) || len(scopes) == 0 {
		fd.fail("scopes", `is required: one or more of "read", "operate", "admin"`)
	}
	for _, sc := range scopes {
		if store.ScopeRank[sc] == 0 {
			fd.fail("scopes", `must contain only "read", "operate" or "admin"`)
		}
	}
	// Without expires_at a token lives INFRA_TOKEN_DEFAULT_TTL (forever when that is 0); "never" or null asks
	// for no expiry explicitly, which only an admin (who creates tokens) can do anyway.
	var expires *time.Time
	if s.Config.TokenDefaultTTL > 0 {
		t := s.Now().Add(s.Config.TokenDefaultTTL).UTC().Truncate(time.Second)
		expires = &t
	}
	var expStr string
	if fd.get("expires_at", &expStr, `an RFC 3339 time or "never"`) {
		t, err := time.Parse(time.RFC3339, expStr)
		switch {
		case expStr == "never":
			expires = nil
		case err != nil:
			fd.fail("expires_at", `must be an RFC 3339 time such as "2027-01-02T15:04:05Z", or "never"`)
		case !t.After(s.Now()):
			fd.fail("expires_at", "must be in the future")
		default:
			expires = &t
		}
	} else if fd.isNull["expires_at"] {
		expires = nil
	}
	if err := fd.finish(); err != nil {
		return err
	}
	secret, err := store.NewSecret()
	if err != nil {
		return err
	}
	tok, err := store.CreateToken(c.UserContext(), s.Pool, name, dedupe(scopes), expires, secret)
	if err != nil {
		return err
	}
	setAudit(c, "token.create", "token/"+tok.ID.String(), map[string]any{"name": tok.Name, "scopes": tok.Scopes})
	c.Location("/api/v1/tokens/" + tok.ID.String())
	return c.Status(http.StatusCreated).JSON(struct {
		*store.Token
		Secret string `json:"token"`
	}{tok, secret})
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	toks, err := store.ListTokens(c.UserContext(), s.Pool)
	if err != nil {
		return err
	}
	return c.JSON(page(toks, nil))
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	id, err := parseID(c, "token")
	if err != nil {
		return err
	}
	setAudit(c, "token.revoke", "token/"+id.String(), nil)
	tok, err := store.RevokeToken(c.UserContext(), s.Pool, id)
	if err == store.ErrNotFound {
		return service.NotFound("token")
	}
	if err != nil {
		return err
	}
	// Every process hears of it through the database; this one ends its own connections without waiting.
	s.EndToken(id, hub.ErrTokenRevoked)
	return c.JSON(tok)
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Action: c.Query("action"), Target: c.Query("target"), Limit: limit}
	if cursor != "" {
		if f.Before, err = strconv.ParseInt(cursor, 10, 64); err != nil || f.Before <= 0 {
			return service.Invalid(map[string]string{"cursor": "is not a cursor this API returned"})
		}
	}
	recs, next, err := store.ListAudit(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page(recs, idCursor(next)))
}

func idCursor(id int64) *string {
	if id == 0 {
		return nil
	}
	s := strconv.FormatInt(id, 10)
	return &s
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range in {
		v = strings.TrimSpace(v)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
