package integration

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// A compose update schedule with only_with_updates (#13): of two real compose projects on a device, each running
// an image from a registry in this process, only the one whose image got a new push is pulled and recreated; the
// other is recorded as skipped with the reason and its container is left alone.
func TestScheduleOnlyWithUpdates(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose (v1) not installed: apt-get install -y docker-compose")
	}
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	s, d, _ := newDockerDevice(t, true)
	s.onlyRules() // alerts are not under test here
	dev := d.id.String()

	// Two projects, one image each, created as a user would so their containers carry compose's own labels.
	suffix := strings.ToLower(uuid.NewString()[:8])
	type project struct{ name, dir, ref string }
	var projects []project
	for _, base := range []string{"pa", "pb"} {
		p := project{name: base + suffix, ref: host + "/homelab/" + base + ":stable"}
		pushBusybox(t, p.ref, "1")
		dir, err := os.MkdirTemp("", "compose-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		p.dir = dir
		require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(fmt.Sprintf(`version: "2.4"
services:
  app:
    image: %s
    command: ["sh", "-c", %q]
    network_mode: none
`, p.ref, loop)), 0o644))
		cmd := exec.Command("docker-compose", "-p", p.name, "up", "--detach")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.engine.Host)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Cleanup(func() {
			c := exec.Command("docker-compose", "-p", p.name, "down", "-t", "0")
			c.Dir, c.Env = dir, cmd.Env
			_ = c.Run()
		})
		projects = append(projects, p)
	}
	updated, untouched := projects[0], projects[1]
	containerOf := func(p project) string {
		t.Helper()
		return strings.TrimSpace(d.engine.Docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+p.name))
	}
	imageOf := func(id string) string {
		t.Helper()
		return strings.TrimSpace(d.engine.Docker(t, "inspect", "--type", "container", "--format", "{{.Image}}", id))
	}
	before := map[string]string{updated.name: containerOf(updated), untouched.name: containerOf(untouched)}
	require.NotEmpty(t, before[updated.name])
	require.NotEmpty(t, before[untouched.name])
	beforeImage := imageOf(before[updated.name])

	// A poll stores the containers with their labels and the images' registry digests.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, s.do("POST", "/api/v1/devices/"+dev+"/poll", nil, nil))
		runs, err := store.InventoryRuns(context.Background(), s.DB, d.id)
		require.NoError(c, err)
		require.Equal(c, "2 images", runs["images"].Summary)
	}, 90*time.Second, time.Second)
	for _, p := range projects {
		require.Equal(t, 200, s.do("POST", "/api/v1/devices/"+dev+"/compose/"+p.name+"/confirm", map[string]any{"working_dir": p.dir}, nil))
	}

	// A new image under the first project's tag only; the check finds it.
	pushBusybox(t, updated.ref, "2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := s.TC.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: s.TaskQueue},
		workflows.ImageUpdatesWorkflowName, activities.CheckImageUpdatesInput{Force: true})
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	var updates struct {
		Items []service.ContainerImageUpdate `json:"items"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/image-updates?device_id="+dev, nil, &updates))
	status := map[string]registry.Status{}
	for _, u := range updates.Items {
		status[u.ComposeProject] = u.Status
	}
	require.Equal(t, registry.UpdateAvailable, status[updated.name], "%+v", updates.Items)
	require.Equal(t, registry.UpToDate, status[untouched.name], "%+v", updates.Items)

	// The option belongs to compose updates, and names its field when misused.
	var raw map[string]any
	require.Equal(t, 422, s.do("POST", "/api/v1/schedules", map[string]any{"name": "bad", "spec": map[string]any{"every": "24h"},
		"action": map[string]any{"type": "image_prune", "device_id": dev, "only_with_updates": true}}, &raw))
	require.Contains(t, raw["error"].(map[string]any)["fields"], "action.only_with_updates", "%v", raw)
	require.Equal(t, 422, s.do("POST", "/api/v1/schedules", map[string]any{"name": "bad", "spec": map[string]any{"every": "24h"},
		"action": map[string]any{"type": "compose_update", "device_id": dev}}, &raw))
	require.Contains(t, raw["error"].(map[string]any)["fields"], "action.project", "a project is needed without only_with_updates: %v", raw)

	// Every project of the device is considered; only the one with an update is acted on.
	var sch scheduleView
	require.Equal(t, 201, s.do("POST", "/api/v1/schedules", map[string]any{"name": "updates", "spec": map[string]any{"every": "24h"},
		"action": map[string]any{"type": "compose_update", "device_id": dev, "only_with_updates": true}}, &sch))
	require.Equal(t, 202, s.do("POST", "/api/v1/schedules/"+sch.ID+"/trigger", nil, nil))
	var got scheduleRun
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs := s.scheduleRuns(sch.ID)
		require.NotEmpty(c, runs)
		got = runs[0]
		require.NotEqual(c, "running", got.State)
	}, 4*time.Minute, time.Second, "the run finishes")
	require.Equal(t, "succeeded", got.State, "%+v", got)
	require.Len(t, got.Result, 2, "%+v", got.Result)
	byProject := map[string]int{}
	for i, o := range got.Result {
		byProject[o.Project] = i
	}
	acted, skipped := got.Result[byProject[updated.name]], got.Result[byProject[untouched.name]]
	require.Equal(t, updated.name, acted.Project)
	require.Equal(t, "succeeded", acted.State, "%+v", acted)
	require.NotEmpty(t, acted.OperationID)
	require.Equal(t, untouched.name, skipped.Project)
	require.Equal(t, "skipped", skipped.State)
	require.Empty(t, skipped.OperationID)
	require.Equal(t, "no image updates for compose project "+untouched.name, skipped.Summary)

	// The updated project runs a new container of the new image; the other kept its container.
	after := containerOf(updated)
	require.NotEqual(t, before[updated.name], after, "recreated")
	require.NotEqual(t, beforeImage, imageOf(after), "runs the new image")
	require.Equal(t, before[untouched.name], containerOf(untouched), "the project without updates was not touched")

	// A schedule naming one project without updates acts on nothing and says why.
	var named scheduleView
	require.Equal(t, 201, s.do("POST", "/api/v1/schedules", map[string]any{"name": "named", "spec": map[string]any{"every": "24h"},
		"action": map[string]any{"type": "compose_update", "device_id": dev, "project": untouched.name, "only_with_updates": true}}, &named))
	require.Equal(t, 202, s.do("POST", "/api/v1/schedules/"+named.ID+"/trigger", nil, nil))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs := s.scheduleRuns(named.ID)
		require.NotEmpty(c, runs)
		got = runs[0]
		require.NotEqual(c, "running", got.State)
	}, 2*time.Minute, time.Second, "the run finishes")
	require.Equal(t, "succeeded", got.State, "%+v", got)
	require.Len(t, got.Result, 1)
	require.Equal(t, "skipped", got.Result[0].State)
	require.Equal(t, "no image updates for compose project "+untouched.name, got.Result[0].Summary)
	require.Equal(t, before[untouched.name], containerOf(untouched))

	var op struct {
		Target string `json:"target"`
		State  string `json:"state"`
	}
	require.Equal(t, 200, s.do("GET", "/api/v1/operations/"+acted.OperationID, nil, &op))
	require.Equal(t, "compose:"+updated.name, op.Target)
	require.Equal(t, store.OpSucceeded, op.State)
}
