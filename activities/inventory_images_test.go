package activities

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/imageupdate"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// countingTransport counts the registry requests (HEADs and the token dance).
type countingTransport struct{ heads atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodHead {
		c.heads.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// storePolled stores the engine's containers as the poll does (docker inspect → docker.ParseInspect).
func storePolled(t *testing.T, db store.DBTX, e *testenv.DockerEngine, dev *store.Device, names ...string) {
	t.Helper()
	cs, err := docker.ParseInspect([]byte(e.Docker(t, append([]string{"inspect", "--type", "container"}, names...)...)))
	require.NoError(t, err)
	for _, c := range cs {
		detail, err := json.Marshal(c)
		require.NoError(t, err)
		_, err = db.Exec(context.Background(), `INSERT INTO containers (device_id, container_id, name, image, state, detail)
			VALUES ($1,$2,$3,$4,$5,$6)`, dev.ID, c.ID, c.Name, c.Image, string(c.State), detail)
		require.NoError(t, err)
	}
}

// TestImageUpdatesAgainstRegistry: an in-process OCI registry serves an image that two containers on the real
// test engine run; the registry is asked once per reference, not per container, and not again within 6 hours; a
// new image pushed under the same tag makes update_available flip once the check is due; a registry that is
// down leaves the state unknown without failing the collection.
func TestImageUpdatesAgainstRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dockerd and sshd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the test sshd")
	}
	e := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/infra/app:1"

	// Push the test image to the registry, pull it through the engine (loopback registries need no TLS) and run
	// two containers on it.
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	e.Docker(t, "save", "-o", tarPath, img)
	base, err := tarball.ImageFromPath(tarPath, nil)
	require.NoError(t, err)
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, base))
	e.Docker(t, "pull", ref)
	a, b := testenv.ContainerName(t, "img-a"), testenv.ContainerName(t, "img-b")
	t.Cleanup(func() { _, _ = e.TryDocker(nil, "rm", "-f", a, b) })
	e.Docker(t, "run", "-d", "--network", "none", "--name", a, ref, "sleep", "1000")
	e.Docker(t, "run", "-d", "--network", "none", "--name", b, ref, "sleep", "1000")

	db := testdb.Pool(t)
	dev, run := sshDevice(t, db, "img-host", e.SetEnv())
	dev.Docker = json.RawMessage(`{"state":"available"}`)
	storePolled(t, db, e, dev, a, b)
	counter := &countingTransport{}
	checker := &imageupdate.Checker{Transport: counter}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now().UTC()
	state := func() map[string]string {
		rows, err := store.ListContainerImages(ctx, db, &dev.ID)
		require.NoError(t, err)
		out := map[string]string{}
		for _, r := range rows {
			out[r.ContainerName] = imageupdate.Compare(r.LocalDigests, r.RemoteDigest)
		}
		return out
	}

	got, err := collectImages(ctx, db, dev, t0, run, checker)
	require.NoError(t, err)
	require.Equal(t, "2 running containers, 0 with a newer image", got.summary)
	require.Equal(t, map[string]string{a: imageupdate.StateCurrent, b: imageupdate.StateCurrent}, state())
	require.Equal(t, int32(1), counter.heads.Load(), "one check per reference, not per container")

	// A new image under the same tag.
	newer, err := mutate.Config(base, v1.Config{Labels: map[string]string{"version": "2"}, Cmd: []string{"sh"}})
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, newer))

	_, err = collectImages(ctx, db, dev, t0.Add(time.Hour), run, checker)
	require.NoError(t, err)
	require.Equal(t, int32(1), counter.heads.Load(), "not asked again within 6 hours")
	require.Equal(t, imageupdate.StateCurrent, state()[a])

	got, err = collectImages(ctx, db, dev, t0.Add(7*time.Hour), run, checker)
	require.NoError(t, err)
	require.Equal(t, int32(2), counter.heads.Load())
	require.Equal(t, "2 running containers, 2 with a newer image", got.summary)
	require.Equal(t, map[string]string{a: imageupdate.StateAvailable, b: imageupdate.StateAvailable}, state())

	// The registry goes away: unknown, not an error.
	srv.Close()
	_, err = collectImages(ctx, db, dev, t0.Add(14*time.Hour), run, checker)
	require.NoError(t, err)
	rows, err := store.ListContainerImages(ctx, db, &dev.ID)
	require.NoError(t, err)
	require.NotEmpty(t, rows[0].CheckError)
	require.Equal(t, imageupdate.StateUnknown, imageupdate.Compare(rows[0].LocalDigests, rows[0].RemoteDigest))
}
