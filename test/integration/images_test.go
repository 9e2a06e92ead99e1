package integration

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// pushBusybox pushes a runnable busybox image to ref, labelled with version so each push is a new image.
func pushBusybox(t *testing.T, ref, version string) v1.Hash {
	t.Helper()
	rootfs, err := testenv.BusyboxRootfs()
	require.NoError(t, err)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rootfs)), nil })
	require.NoError(t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.Config.Labels = map[string]string{"version": version}
	img, err = mutate.ConfigFile(img, cfg)
	require.NoError(t, err)
	tag, err := name.NewTag(ref, name.WeakValidation)
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, img))
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

// Image updates against a registry in this process: containers on the real test engine run an image pulled from
// it; a new image pushed under the same tag flips them to update_available; the registry is asked once per
// reference however many containers run it; a registry that is down makes them unknown, not an error.
func TestImageUpdates(t *testing.T) {
	var heads atomic.Int32
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
			heads.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/homelab/app:stable"
	pushBusybox(t, ref, "1")

	s, d, _ := newDockerDevice(t, true)
	d.engine.Docker(t, "pull", ref)
	var names []string
	for _, base := range []string{"app-a", "app-b"} {
		n := testenv.ContainerName(t, base)
		d.engine.Docker(t, "run", "-d", "--name", n, "--network", "none", ref, "sh", "-c", "while :; do sleep 1; done")
		t.Cleanup(func() { _, _ = d.engine.TryDocker(nil, "rm", "-f", n) })
		names = append(names, n)
	}
	// A poll-now takes the inventory and collects the images' registry digests at once.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, s.do("POST", "/api/v1/devices/"+d.id.String()+"/poll", nil, nil))
		runs, err := store.InventoryRuns(context.Background(), s.DB, d.id)
		require.NoError(c, err)
		require.Equal(c, "1 images", runs["images"].Summary)
	}, 90*time.Second, time.Second)

	check := func() activities.CheckImageUpdatesResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		run, err := s.TC.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: s.TaskQueue},
			workflows.ImageUpdatesWorkflowName, activities.CheckImageUpdatesInput{Force: true})
		require.NoError(t, err)
		var res activities.CheckImageUpdatesResult
		require.NoError(t, run.Get(ctx, &res))
		return res
	}
	statuses := func() map[string]service.ContainerImageUpdate {
		t.Helper()
		var out struct {
			Items []service.ContainerImageUpdate `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/image-updates?device_id="+d.id.String(), nil, &out))
		m := map[string]service.ContainerImageUpdate{}
		for _, u := range out.Items {
			m[u.Container] = u
		}
		return m
	}

	heads.Store(0) // the pushes and the pull asked too
	res := check()
	require.Equal(t, 1, res.Checked, "%+v", res)
	require.Equal(t, int32(1), heads.Load(), "one registry request for two containers of one reference")
	for _, n := range names {
		u := statuses()[n]
		require.Equal(t, registry.UpToDate, u.Status, "%+v", u)
		require.NotNil(t, u.CheckedAt)
	}

	newDigest := pushBusybox(t, ref, "2")
	check()
	for _, n := range names {
		u := statuses()[n]
		require.Equal(t, registry.UpdateAvailable, u.Status, "%+v", u)
		require.Equal(t, newDigest.String(), u.RemoteDigest)
	}

	down.Store(true)
	res = check()
	require.Equal(t, 1, res.Failed)
	u := statuses()[names[0]]
	require.Equal(t, registry.Unknown, u.Status)
	require.Contains(t, u.Error, "503")
}
