package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/api/rest"
	"github.com/infrastructor/infrastructor/internal/config"
)

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// servedRoutes lists the /api/v1 operations the app really routes, as "method /path/{param}".
func servedRoutes(t *testing.T) map[string]bool {
	t.Helper()
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	app := api.New(api.Deps{Config: cfg, Log: quiet}).App()
	out := map[string]bool{}
	for _, r := range app.GetRoutes(true) { // true: leave out middleware registered with Use
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue // HEAD is added by Fiber for every GET
		}
		if !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		out[strings.ToLower(r.Method)+" "+fiberParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	require.NotEmpty(t, out)
	return out
}

// documentOf round-trips the document through JSON, as a client sees it.
func documentOf(t *testing.T) map[string]any {
	t.Helper()
	b, err := json.Marshal(rest.OpenAPIDocument())
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

func documentedRoutes(t *testing.T, doc map[string]any) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	paths, ok := doc["paths"].(map[string]any)
	require.True(t, ok, "document has no paths")
	for path, item := range paths {
		ops, ok := item.(map[string]any)
		require.True(t, ok, "path %s", path)
		for method := range ops {
			out[method+" "+path] = true
		}
	}
	return out
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	served := servedRoutes(t)
	documented := documentedRoutes(t, documentOf(t))
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	require.Empty(t, missing, "routes the OpenAPI document does not describe (add them to apiRoutes in api/rest/openapi.go)")
	require.Empty(t, extra, "operations the OpenAPI document describes but the server does not route")
}

func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	t.Parallel()
	doc := documentOf(t)
	require.True(t, strings.HasPrefix(doc["openapi"].(string), "3."), "openapi version %v", doc["openapi"])
	info := doc["info"].(map[string]any)
	require.NotEmpty(t, info["title"])
	require.NotEmpty(t, info["version"])
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	security := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)

	// Every $ref points at a schema that exists.
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, refs)
	for _, r := range refs {
		name, ok := strings.CutPrefix(r, "#/components/schemas/")
		require.True(t, ok, "reference %s is not to a component schema", r)
		require.Contains(t, schemas, name, "reference %s to a missing schema", r)
	}

	// Every operation has a summary, responses with a success, 401/403/429/503, a known security scheme and its path
	// parameters declared.
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			where := method + " " + path
			require.NotEmpty(t, op["summary"], where)
			resps := op["responses"].(map[string]any)
			success := false
			for code := range resps {
				if strings.HasPrefix(code, "2") {
					success = true
				}
			}
			require.True(t, success, "%s has no 2xx response", where)
			require.Contains(t, resps, "401", where)
			require.Contains(t, resps, "403", where)
			require.Contains(t, resps, "429", where) // rate limits (#15)
			require.Contains(t, resps, "503", where) // database or Temporal unavailable (#15)
			for _, s := range op["security"].([]any) {
				for scheme := range s.(map[string]any) {
					require.Contains(t, security, scheme, where)
				}
			}
			require.Contains(t, []any{"read", "operate", "admin"}, op["x-required-scope"], where)
			declared := map[string]bool{}
			if params, ok := op["parameters"].([]any); ok {
				for _, p := range params {
					pm := p.(map[string]any)
					if pm["in"] == "path" {
						declared[pm["name"].(string)] = true
					}
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				require.True(t, declared[m[1]], "%s does not declare path parameter %s", where, m[1])
			}
		}
	}
}

// TestOpenAPIServed: the document is served as JSON at /api/v1/openapi.json, equal to OpenAPIDocument.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.req("GET", "/api/v1/openapi.json", ts.read, nil).requireStatus(t, http.StatusOK)
	require.Contains(t, r.Header.Get("Content-Type"), "application/json")
	var served map[string]any
	r.into(t, &served)
	require.Equal(t, documentOf(t), served)
}
