package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

func TestAuditRecordsEveryMutatingRequest(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	admin, reader := ts.tokens[ts.admin], ts.tokens[ts.read]

	d := ts.createDevice("audited", map[string]any{"enabled": false})
	unknown := newID()
	steps := []struct {
		method, path, token string
		body                any
		status              int
		action, target      string
		outcome             string
		tok                 *store.Token
	}{
		{"PATCH", "/api/v1/devices/" + d.ID, ts.admin, map[string]any{"description": "x"}, http.StatusOK,
			"device.update", "device/" + d.ID, "success", admin},
		{"POST", "/api/v1/devices", ts.admin, map[string]any{"name": "bad name"}, http.StatusUnprocessableEntity,
			"POST /api/v1/devices", "/api/v1/devices", "failure", admin},
		{"POST", "/api/v1/devices", ts.read, map[string]any{"name": "x"}, http.StatusForbidden,
			"POST /api/v1/devices", "/api/v1/devices", "denied", reader},
		{"DELETE", "/api/v1/devices/" + unknown, ts.admin, nil, http.StatusNotFound,
			"device.delete", "device/" + unknown, "failure", admin},
		{"POST", "/api/v1/devices/" + d.ID + "/pause", ts.operate, nil, http.StatusConflict,
			"", "", "failure", ts.tokens[ts.operate]},
		{"DELETE", "/api/v1/devices/" + d.ID, ts.admin, nil, http.StatusNoContent,
			"device.delete", "device/" + d.ID, "success", admin},
	}
	before := len(ts.auditRecords())
	require.Equal(t, 1, before, "the create")
	for i, s := range steps {
		ts.req(s.method, s.path, s.token, s.body).requireStatus(t, s.status)
		// Reads are never audited.
		ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
		ts.req("GET", "/api/v1/audit", ts.admin, nil).requireStatus(t, http.StatusOK)

		recs := ts.auditRecords()
		require.Len(t, recs, before+i+1, "one record per mutating request (step %d: %s %s)", i, s.method, s.path)
		r := recs[0]
		if s.action != "" {
			require.Equal(t, s.action, r.Action, "step %d", i)
			require.Equal(t, s.target, r.Target, "step %d", i)
		}
		require.Equal(t, s.outcome, r.Outcome, "step %d", i)
		require.Equal(t, s.status, r.StatusCode, "step %d", i)
		require.NotNil(t, r.TokenID, "step %d", i)
		require.Equal(t, s.tok.ID, *r.TokenID, "step %d", i)
		require.Equal(t, s.tok.Name, r.TokenName, "step %d", i)
		require.NotEmpty(t, r.RemoteAddr, "step %d", i)
	}
}

func TestAuditListNewestFirstWithPages(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	const n = 7
	for i := range n {
		ts.createDevice(fmt.Sprintf("dev-%d", i), map[string]any{"enabled": false})
	}
	// Concurrent writers each get their own record.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.req("POST", "/api/v1/tokens", ts.admin, map[string]any{"name": fmt.Sprintf("tok-%d", i), "scopes": []string{"read"}})
		}()
	}
	wg.Wait()
	total := n + 5

	type rec struct {
		ID      int64  `json:"id"`
		Action  string `json:"action"`
		Target  string `json:"target"`
		Outcome string `json:"outcome"`
	}
	type auditPage struct {
		Items      []rec   `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	var all auditPage
	ts.req("GET", "/api/v1/audit", ts.admin, nil).requireStatus(t, http.StatusOK).into(t, &all)
	require.Len(t, all.Items, total)
	require.Nil(t, all.NextCursor)
	for i := 1; i < len(all.Items); i++ {
		require.Greater(t, all.Items[i-1].ID, all.Items[i].ID, "newest first")
	}
	require.Equal(t, "device.create", all.Items[len(all.Items)-1].Action)
	require.Equal(t, "token.create", all.Items[0].Action)

	for limit := 1; limit <= total; limit++ {
		var got []rec
		cursor := ""
		for page := 0; ; page++ {
			require.Less(t, page, total+2, "pagination does not end")
			var p auditPage
			ts.req("GET", fmt.Sprintf("/api/v1/audit?limit=%d&cursor=%s", limit, url.QueryEscape(cursor)), ts.admin, nil).
				requireStatus(t, http.StatusOK).into(t, &p)
			got = append(got, p.Items...)
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		require.Equal(t, all.Items, got, "limit %d", limit)
	}

	var filtered auditPage
	ts.req("GET", "/api/v1/audit?action=token.create", ts.admin, nil).requireStatus(t, http.StatusOK).into(t, &filtered)
	require.Len(t, filtered.Items, 5)
	target := all.Items[len(all.Items)-1].Target
	require.True(t, strings.HasPrefix(target, "device/"))
	ts.req("GET", "/api/v1/audit?target="+url.QueryEscape(target), ts.admin, nil).requireStatus(t, http.StatusOK).into(t, &filtered)
	require.Len(t, filtered.Items, 1)

	for _, q := range []string{"cursor=abc", "cursor=-1", "cursor=0", "limit=0", "limit=1000"} {
		ts.req("GET", "/api/v1/audit?"+q, ts.admin, nil).requireStatus(t, http.StatusUnprocessableEntity)
	}
}

// TestInternalErrorsAreGeneric: a failing database gives the generic envelope, never SQL or Go internals.
func TestInternalErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("doomed", map[string]any{"enabled": false})
	_, err := ts.pool.Exec(context.Background(), `DROP TABLE devices CASCADE`)
	require.NoError(t, err)

	check := func(r *response) {
		t.Helper()
		require.Equal(t, http.StatusInternalServerError, r.Status, "body: %s", r.Body)
		e := r.envelope(t)
		require.Equal(t, "internal", e.Error.Code)
		body := strings.ToLower(string(r.Body))
		for _, leak := range []string{"relation", "devices", "does not exist", "sql", "42p01", "pool", "closed"} {
			require.NotContains(t, body, leak)
		}
	}
	check(ts.req("GET", "/api/v1/devices", ts.read, nil))
	check(ts.req("GET", "/api/v1/devices/"+d.ID, ts.read, nil))
	check(ts.req("POST", "/api/v1/devices", ts.admin, map[string]any{"name": "n", "host": "192.0.2.1", "user": "u"}))
	check(ts.req("POST", "/api/v1/devices/import", ts.admin, raw("Host a\n  User u\n"), "Content-Type", "text/plain"))

	// With the pool closed even authentication fails, and still says nothing about why.
	ts.pool.Close()
	check(ts.req("GET", "/api/v1/tokens", ts.admin, nil))
}
