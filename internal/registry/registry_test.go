package registry

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	for ref, want := range map[string]string{
		"nginx":                         "index.docker.io/library/nginx:latest",
		"nginx:1.27":                    "index.docker.io/library/nginx:1.27",
		"grafana/grafana":               "index.docker.io/grafana/grafana:latest",
		"ghcr.io/home-assistant/home:x": "ghcr.io/home-assistant/home:x",
		"10.0.0.5:5000/app:stable":      "10.0.0.5:5000/app:stable",
	} {
		got, ok := Normalize(ref)
		require.True(t, ok, ref)
		require.Equal(t, want, got, ref)
	}
	for _, ref := range []string{"", "sha256:0123", "nginx@sha256:" + string(make([]byte, 0)), "UPPER/case", "a b"} {
		_, ok := Normalize(ref)
		require.False(t, ok, ref)
	}
}

func TestCompare(t *testing.T) {
	const ref = "index.docker.io/library/nginx:latest"
	const d1, d2 = "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"sha256:2222222222222222222222222222222222222222222222222222222222222222"
	require.Equal(t, UpToDate, Compare(ref, d1, []string{"nginx@" + d1}))
	require.Equal(t, UpdateAvailable, Compare(ref, d2, []string{"nginx@" + d1}))
	// Another repository's digest of the same image says nothing about this one.
	require.Equal(t, Unknown, Compare(ref, d1, []string{"myregistry.lan/nginx@" + d1}))
	require.Equal(t, UpToDate, Compare(ref, d1, []string{"myregistry.lan/nginx@" + d2, "docker.io/library/nginx@" + d1}))
	// A locally built image has no registry digest; a registry not asked yet has no answer.
	require.Equal(t, Unknown, Compare(ref, d1, nil))
	require.Equal(t, Unknown, Compare(ref, "", []string{"nginx@" + d1}))
}
