package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// accessDevice is the part of a device that says how the worker may use it (#15).
type accessDevice struct {
	ID         string  `json:"id"`
	ReadOnly   bool    `json:"read_only"`
	DockerHost *string `json:"docker_host"`
}

func TestDeviceReadOnlyAndDockerHostFields(t *testing.T) {
	t.Parallel()
	ts := newServer(t)

	var d accessDevice
	ts.req("POST", "/api/v1/devices", ts.admin, map[string]any{"name": "proxied", "host": "192.0.2.10", "user": "monitor",
		"read_only": true, "docker_host": "tcp://127.0.0.1:2375", "enabled": false}).
		requireStatus(t, http.StatusCreated).into(t, &d)
	require.True(t, d.ReadOnly)
	require.Equal(t, "tcp://127.0.0.1:2375", *d.DockerHost)

	var got accessDevice
	ts.req("GET", "/api/v1/devices/"+d.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &got)
	require.Equal(t, d.ReadOnly, got.ReadOnly)
	require.Equal(t, *d.DockerHost, *got.DockerHost)

	ts.req("PATCH", "/api/v1/devices/"+d.ID, ts.admin, map[string]any{"read_only": false,
		"docker_host": "unix:///run/docker-proxy.sock"}).requireStatus(t, http.StatusOK).into(t, &got)
	require.False(t, got.ReadOnly)
	require.Equal(t, "unix:///run/docker-proxy.sock", *got.DockerHost)
	ts.req("PATCH", "/api/v1/devices/"+d.ID, ts.admin, map[string]any{"docker_host": nil}).
		requireStatus(t, http.StatusOK).into(t, &got)
	require.Nil(t, got.DockerHost, "null clears docker_host")

	// A plain device is neither read-only nor proxied.
	plain := ts.createDevice("plain", map[string]any{"enabled": false})
	ts.req("GET", "/api/v1/devices/"+plain.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &got)
	require.False(t, got.ReadOnly)
	require.Nil(t, got.DockerHost)

	for _, tc := range []struct {
		field string
		value any
	}{
		{"read_only", "yes"}, {"read_only", 1},
		{"docker_host", "http://127.0.0.1:2375"}, {"docker_host", "unix://relative.sock"},
		{"docker_host", "unix:///run/a b.sock"}, {"docker_host", "unix:///run/x'y.sock"},
		{"docker_host", `tcp://h:1";reboot;"`}, {"docker_host", "tcp://127.0.0.1"}, {"docker_host", "tcp://h:2375/$(id)"},
		{"docker_host", "unix:///run/../etc/shadow"}, {"docker_host", 2375},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.field, tc.value), func(t *testing.T) {
			e := ts.req("PATCH", "/api/v1/devices/"+d.ID, ts.admin, map[string]any{tc.field: tc.value}).
				requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
			require.NotEmpty(t, e.Error.Fields[tc.field], "fields: %v", e.Error.Fields)
			require.Len(t, e.Error.Fields, 1, "only the bad field is named: %v", e.Error.Fields)
		})
	}
}

// TestReadOnlyDeviceRefusesOperations: container and compose actions on a read-only device are answered 409
// before any operation is recorded or workflow started; once read_only is cleared the same request is accepted.
func TestReadOnlyDeviceRefusesOperations(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("monitor-only", map[string]any{"read_only": true, "enabled": false})

	for _, path := range []string{
		"/api/v1/devices/" + d.ID + "/containers/web/actions",
		"/api/v1/devices/" + d.ID + "/compose/demo/actions",
	} {
		action := "restart"
		e := ts.req("POST", path, ts.operate, map[string]any{"action": action}).
			requireStatus(t, http.StatusConflict).envelope(t)
		require.Equal(t, "device_read_only", e.Error.Code)
		require.Contains(t, e.Error.Message, "read-only")
	}
	var ops struct {
		Items []map[string]any `json:"items"`
	}
	ts.req("GET", "/api/v1/operations?device_id="+d.ID, ts.read, nil).requireStatus(t, http.StatusOK).into(t, &ops)
	require.Empty(t, ops.Items, "no operation was recorded")

	ts.req("PATCH", "/api/v1/devices/"+d.ID, ts.admin, map[string]any{"read_only": false}).requireStatus(t, http.StatusOK)
	ts.req("POST", "/api/v1/devices/"+d.ID+"/containers/web/actions", ts.operate, map[string]any{"action": "restart"}).
		requireStatus(t, http.StatusAccepted)
}

// TestScheduleOnReadOnlyDeviceRefused: a schedule that would act on a read-only device is refused when it is
// created, naming the field, instead of failing at every firing.
func TestScheduleOnReadOnlyDeviceRefused(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("monitor-only", map[string]any{"read_only": true, "enabled": false})
	for _, action := range []map[string]any{
		{"type": "container", "device_id": d.ID, "container": "web", "action": "restart"},
		{"type": "image_prune", "device_id": d.ID},
	} {
		e := ts.req("POST", "/api/v1/schedules", ts.admin, map[string]any{"name": "nightly",
			"spec": map[string]any{"cron": "0 3 * * *"}, "action": action}).
			requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields["action.device_id"], "read-only", "%v", e.Error.Fields)
	}
}
