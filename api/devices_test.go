package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/infrastructor/infrastructor/internal/store"
)

func TestDeviceCRUD(t *testing.T) {
	t.Parallel()
	ts := newServer(t)

	r := ts.req("POST", "/api/v1/devices", ts.admin, map[string]any{"name": "web-1", "host": "192.0.2.1", "user": "root"}).
		requireStatus(t, http.StatusCreated)
	var created device
	r.into(t, &created)
	require.Equal(t, "/api/v1/devices/"+created.ID, r.Header.Get("Location"))
	_, err := uuid.Parse(created.ID)
	require.NoError(t, err)
	require.Equal(t, device{ID: created.ID, Name: "web-1", Host: "192.0.2.1", Port: 22, User: "root", DeviceType: "linux",
		Tags: []string{}, PollInterval: "30s", Enabled: true, HostKeyPolicy: "require_approval", Status: "unknown"}, created)

	var got device
	ts.req("GET", "/api/v1/devices/"+created.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &got)
	require.Equal(t, created, got)

	var list devicePage
	ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Equal(t, []device{created}, list.Items)
	require.Nil(t, list.NextCursor)

	var patched device
	ts.req("PATCH", "/api/v1/devices/"+created.ID, ts.admin, map[string]any{
		"description": "front end", "tags": []string{"web", "prod", "web"}, "port": 2222, "device_type": "unraid",
		"poll_interval": "1m", "jump_host": "admin@bastion.example:22", "host_key_policy": "trust_first_use",
		// Read-only fields echoed from a GET are accepted and ignored.
		"status": "online", "id": created.ID,
	}).requireStatus(t, http.StatusOK).into(t, &patched)
	bastion := "admin@bastion.example:22"
	want := created
	want.Description, want.Tags, want.Port, want.DeviceType = "front end", []string{"web", "prod"}, 2222, "unraid"
	want.PollInterval, want.JumpHost, want.HostKeyPolicy = "1m0s", &bastion, "trust_first_use"
	require.Equal(t, want, patched)

	// null resets optional fields to their defaults.
	ts.req("PATCH", "/api/v1/devices/"+created.ID, ts.admin, map[string]any{"jump_host": nil, "port": nil, "tags": nil,
		"description": nil, "poll_interval": nil, "device_type": nil, "host_key_policy": nil}).
		requireStatus(t, http.StatusOK).into(t, &patched)
	require.Equal(t, created, patched)

	ts.req("DELETE", "/api/v1/devices/"+created.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	require.Equal(t, "not_found", ts.req("GET", "/api/v1/devices/"+created.ID, ts.read, nil).
		requireStatus(t, http.StatusNotFound).envelope(t).Error.Code)
	ts.req("DELETE", "/api/v1/devices/"+created.ID, ts.admin, nil).requireStatus(t, http.StatusNotFound)
}

// badDeviceFields lists one bad value per validation rule; each must give 422 naming the field.
var badDeviceFields = []struct {
	field string
	value any
}{
	{"name", ""}, {"name", "-web"}, {"name", "has space"}, {"name", strings.Repeat("n", 64)}, {"name", "naïve"},
	{"name", "a/b"}, {"name", 5}, {"name", nil},
	{"host", ""}, {"host", "bad_host!"}, {"host", "a..b"}, {"host", strings.Repeat("a.", 127) + "com"},
	{"host", "-lead.example"}, {"host", "[not-an-ip]"}, {"host", 10}, {"host", nil},
	{"port", 0}, {"port", 65536}, {"port", -1}, {"port", "22"}, {"port", 22.5},
	{"user", ""}, {"user", "1root"}, {"user", "root user"}, {"user", strings.Repeat("u", 33)}, {"user", "root;id"},
	{"user", true}, {"user", nil},
	{"description", strings.Repeat("d", 1001)}, {"description", "bell\a"}, {"description", 1},
	{"device_type", "Linux"}, {"device_type", ""}, {"device_type", strings.Repeat("t", 33)}, {"device_type", "has space"},
	{"device_type", []string{"linux"}},
	{"tags", "web"}, {"tags", []any{1}}, {"tags", []string{"bad tag"}}, {"tags", []string{""}},
	{"tags", func() []string {
		var tags []string
		for i := range 33 {
			tags = append(tags, fmt.Sprintf("t%d", i))
		}
		return tags
	}()},
	{"poll_interval", "4s"}, {"poll_interval", "4999ms"}, {"poll_interval", "1h1s"}, {"poll_interval", "soon"},
	{"poll_interval", 30}, {"poll_interval", ""},
	{"enabled", "yes"}, {"enabled", 1}, {"enabled", nil},
	{"jump_host", "bad host"}, {"jump_host", "user@host:99999"}, {"jump_host", "1bad@host"}, {"jump_host", "host:port"},
	{"jump_host", 5},
	{"host_key_policy", "trust"}, {"host_key_policy", ""}, {"host_key_policy", 1},
	{"colour", "red"}, // unknown field
}

func TestDeviceValidation(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	existing := ts.createDevice("existing", map[string]any{"enabled": false})
	var before device
	ts.req("GET", "/api/v1/devices/"+existing.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &before)

	for _, tc := range badDeviceFields {
		t.Run(fmt.Sprintf("%s=%v", tc.field, tc.value), func(t *testing.T) {
			body := map[string]any{"name": "new-device", "host": "192.0.2.1", "user": "root"}
			body[tc.field] = tc.value
			e := ts.req("POST", "/api/v1/devices", ts.admin, body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.Equal(t, "invalid_input", e.Error.Code)
			require.NotEmpty(t, e.Error.Fields[tc.field], "fields: %v", e.Error.Fields)
			require.Len(t, e.Error.Fields, 1, "only the bad field is named: %v", e.Error.Fields)

			e = ts.req("PATCH", "/api/v1/devices/"+existing.ID, ts.admin, map[string]any{tc.field: tc.value}).
				requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.NotEmpty(t, e.Error.Fields[tc.field], "fields: %v", e.Error.Fields)
		})
	}

	var after device
	ts.req("GET", "/api/v1/devices/"+existing.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &after)
	require.Equal(t, before, after, "rejected PATCHes changed nothing")
	var list devicePage
	ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &list)
	require.Len(t, list.Items, 1, "rejected creates created nothing")
}

func TestDeviceGoodEdgeValues(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	tests := []struct {
		field string
		value any
		want  func(d device) any
		is    any
	}{
		{"name", strings.Repeat("n", 63), func(d device) any { return d.Name }, strings.Repeat("n", 63)},
		{"host", "[2001:db8::1]", func(d device) any { return d.Host }, "2001:db8::1"},
		{"host", "host.example.", func(d device) any { return d.Host }, "host.example."},
		{"port", 65535, func(d device) any { return d.Port }, 65535},
		{"poll_interval", "5s", func(d device) any { return d.PollInterval }, "5s"},
		{"poll_interval", "1h", func(d device) any { return d.PollInterval }, "1h0m0s"},
		{"jump_host", "", func(d device) any { return d.JumpHost }, (*string)(nil)},
		{"description", strings.Repeat("é", 1000), func(d device) any { return len([]rune(d.Description)) }, 1000},
	}
	for i, tc := range tests {
		d := ts.createDevice(fmt.Sprintf("edge-%d", i), map[string]any{tc.field: tc.value, "enabled": false})
		require.Equal(t, tc.is, tc.want(d), "%s=%v", tc.field, tc.value)
	}
}

func TestDeviceBodyProblems(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("d1", map[string]any{"enabled": false})
	base := ts.listen()

	for _, path := range []string{"/api/v1/devices", "/api/v1/devices/" + d.ID} {
		method := "POST"
		if path != "/api/v1/devices" {
			method = "PATCH"
		}
		t.Run(method, func(t *testing.T) {
			// Not an object, not JSON, or more than one value.
			for _, body := range []raw{`[]`, `"str"`, `null`, `42`, `{"name":"a"}{"name":"b"}`, `{bad json`, ``} {
				e := ts.req(method, path, ts.admin, body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
				require.NotEmpty(t, e.Error.Fields["body"], "body %q: %v", body, e.Error.Fields)
			}
			// A body that is not JSON by its content type.
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
				e := ts.req(method, path, ts.admin, raw(`{"name":"x"}`), "Content-Type", ct).
					requireStatus(t, http.StatusUnsupportedMediaType).envelope(t)
				require.Equal(t, "unsupported_media_type", e.Error.Code)
			}
			// JSON with parameters or a +json type is JSON.
			ts.req(method, path, ts.admin, raw(`{"colour":1}`), "Content-Type", "application/json; charset=utf-8").
				requireStatus(t, http.StatusUnprocessableEntity)
			ts.req(method, path, ts.admin, raw(`{"colour":1}`), "Content-Type", "application/merge-patch+json").
				requireStatus(t, http.StatusUnprocessableEntity)
			// A body over the limit, and one just under it (which is then judged on its content).
			pad := func(n int) []byte {
				prefix := `{"description":"`
				return []byte(prefix + strings.Repeat("x", n-len(prefix)-2) + `"}`)
			}
			e := ts.httpReq(base, method, path, ts.admin, "application/json", pad(testMaxBody+1)).
				requireStatus(t, http.StatusRequestEntityTooLarge).envelope(t)
			require.Equal(t, "body_too_large", e.Error.Code)
			e = ts.httpReq(base, method, path, ts.admin, "application/json", pad(testMaxBody)).
				requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.NotEmpty(t, e.Error.Fields["description"], "%v", e.Error.Fields)
		})
	}

	// Missing required fields on create are each named.
	e := ts.req("POST", "/api/v1/devices", ts.admin, map[string]any{}).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Equal(t, []string{"host", "name", "user"}, sortedKeys(e.Error.Fields))
	// A PATCH with nothing in it changes nothing.
	ts.req("PATCH", "/api/v1/devices/"+d.ID, ts.admin, map[string]any{}).requireStatus(t, http.StatusOK)
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDeviceNameConflictAndNotFound(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	a := ts.createDevice("Web-1", map[string]any{"enabled": false})
	b := ts.createDevice("db-1", map[string]any{"enabled": false})

	for _, name := range []string{"Web-1", "web-1", "WEB-1"} {
		e := ts.req("POST", "/api/v1/devices", ts.admin, map[string]any{"name": name, "host": "192.0.2.2", "user": "root"}).
			requireStatus(t, http.StatusConflict).envelope(t)
		require.Equal(t, "conflict", e.Error.Code)
		require.NotEmpty(t, e.Error.Fields["name"])
	}
	// Renaming onto another device's name conflicts too; renaming a device to its own name in other case does not.
	ts.req("PATCH", "/api/v1/devices/"+b.ID, ts.admin, map[string]any{"name": "WEB-1"}).requireStatus(t, http.StatusConflict)
	ts.req("PATCH", "/api/v1/devices/"+a.ID, ts.admin, map[string]any{"name": "web-1"}).requireStatus(t, http.StatusOK)

	for _, id := range []string{newID(), "not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", url.PathEscape("' OR 1=1 --")} {
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			var body any
			if m == "PATCH" {
				body = map[string]any{"description": "x"}
			}
			e := ts.req(m, "/api/v1/devices/"+id, ts.admin, body).requireStatus(t, http.StatusNotFound).envelope(t)
			require.Equal(t, "not_found", e.Error.Code, "%s %s", m, id)
		}
	}
}

func TestDeviceListFiltersAndPages(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	names := []string{"alpha", "Bravo", "charlie", "Delta", "echo", "foxtrot", "Golf"}
	ids := map[string]string{}
	for i, n := range names {
		fields := map[string]any{"enabled": i%2 == 0, "tags": []string{fmt.Sprintf("rack:%d", i%3)}}
		if n == "echo" {
			fields["description"] = "100% busy_box"
		}
		if n == "foxtrot" {
			fields["host"] = "fox.example"
		}
		ids[n] = ts.createDevice(n, fields).ID
	}
	_, err := store.SetDeviceStatus(ctx, ts.pool, uuid.MustParse(ids["Delta"]), store.StatusOffline, "timeout", nil)
	require.NoError(t, err)

	list := func(query string) []string {
		t.Helper()
		var p devicePage
		ts.req("GET", "/api/v1/devices?"+query, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &p)
		out := []string{}
		for _, d := range p.Items {
			out = append(out, d.Name)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", names},
		{"tag=rack:0", []string{"alpha", "Delta", "Golf"}},
		{"tag=rack:9", []string{}},
		{"status=offline", []string{"Delta"}},
		{"status=unknown&tag=rack:0", []string{"alpha", "Golf"}},
		{"enabled=true", []string{"alpha", "charlie", "echo", "Golf"}},
		{"enabled=false", []string{"Bravo", "Delta", "foxtrot"}},
		{"q=RAV", []string{"Bravo"}},
		{"q=fox.example", []string{"foxtrot"}},
		{"q=" + url.QueryEscape("%"), []string{"echo"}},   // % is literal, not a wildcard
		{"q=" + url.QueryEscape("y_b"), []string{"echo"}}, // so is _
		{"q=_", []string{"echo"}},
		{"q=nothing-matches", []string{}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, list(tc.query), "query %q", tc.query)
	}

	// Pages of every size cover the list exactly once, in order.
	for _, filter := range []string{"", "enabled=true&"} {
		all := list(filter)
		for limit := 1; limit <= len(all)+1; limit++ {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				require.Less(t, page, 20, "pagination does not end")
				var p devicePage
				ts.req("GET", fmt.Sprintf("/api/v1/devices?%slimit=%d&cursor=%s", filter, limit, cursor), ts.read, nil).
					requireStatus(t, http.StatusOK).into(t, &p)
				require.LessOrEqual(t, len(p.Items), limit)
				for _, d := range p.Items {
					got = append(got, d.Name)
				}
				if p.NextCursor == nil {
					break
				}
				require.Len(t, p.Items, limit, "only the last page may be short")
				cursor = url.QueryEscape(*p.NextCursor)
			}
			require.Equal(t, all, got, "filter %q limit %d", filter, limit)
		}
	}

	for _, q := range []string{"limit=0", "limit=501", "limit=x", "cursor=" + url.QueryEscape("!!!"), "status=sleeping",
		"enabled=yes"} {
		e := ts.req("GET", "/api/v1/devices?"+q, ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		field, _, _ := strings.Cut(q, "=")
		require.NotEmpty(t, e.Error.Fields[field], "%s: %v", q, e.Error.Fields)
	}
}

func TestDevicePollLoopFollowsEnabled(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	running := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	terminated := enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	none := enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED

	on := ts.createDevice("polled", nil)
	require.Equal(t, running, ts.workflowStatus(on.ID))
	off := ts.createDevice("quiet", map[string]any{"enabled": false})
	require.Equal(t, none, ts.workflowStatus(off.ID), "a disabled device gets no poll loop")

	// The audit record of the create names the workflow it started.
	recs := ts.auditRecords()
	var wf []string
	for _, r := range recs {
		if r.Action == "device.create" && r.WorkflowID != nil {
			wf = append(wf, *r.WorkflowID)
		}
	}
	require.Equal(t, []string{"device-poll/" + on.ID}, wf)

	ts.req("PATCH", "/api/v1/devices/"+on.ID, ts.admin, map[string]any{"enabled": false}).requireStatus(t, http.StatusOK)
	require.Equal(t, terminated, ts.workflowStatus(on.ID))
	ts.req("PATCH", "/api/v1/devices/"+on.ID, ts.admin, map[string]any{"enabled": true}).requireStatus(t, http.StatusOK)
	require.Equal(t, running, ts.workflowStatus(on.ID), "enabling again starts a new run")
	// Editing a polled device's interval keeps one loop running.
	ts.req("PATCH", "/api/v1/devices/"+on.ID, ts.admin, map[string]any{"poll_interval": "10s"}).requireStatus(t, http.StatusOK)
	require.Equal(t, running, ts.workflowStatus(on.ID))

	ts.req("PATCH", "/api/v1/devices/"+off.ID, ts.admin, map[string]any{"enabled": true}).requireStatus(t, http.StatusOK)
	require.Equal(t, running, ts.workflowStatus(off.ID))

	ts.req("DELETE", "/api/v1/devices/"+on.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	require.Equal(t, terminated, ts.workflowStatus(on.ID))
	ts.req("DELETE", "/api/v1/devices/"+off.ID, ts.admin, nil).requireStatus(t, http.StatusNoContent)
	require.Equal(t, terminated, ts.workflowStatus(off.ID))
}
