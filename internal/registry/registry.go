// Package registry asks container registries which image a tag points at now, so the product can tell which
// running containers have a newer image. It only ever sends a HEAD for a manifest (the registry HTTP API v2),
// which Docker Hub does not count against its pull limits, and it reaches registries only through the HTTP
// transport it is given (the worker's guarded one: no loopback, link-local or metadata addresses).
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Normalize returns the canonical form of an image reference as a container names it ("nginx" →
// "index.docker.io/library/nginx:latest"), or ok=false for references that cannot have a newer image: pinned by
// digest, an image ID, or not a valid reference.
func Normalize(ref string) (canonical string, ok bool) {
	if ref == "" || strings.HasPrefix(ref, "sha256:") || strings.Contains(ref, "@") {
		return "", false
	}
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return "", false
	}
	return tag.Name(), true
}

// Repository is the canonical repository of a canonical reference ("index.docker.io/library/nginx").
func Repository(canonical string) string {
	tag, err := name.NewTag(canonical, name.WeakValidation)
	if err != nil {
		return ""
	}
	return tag.Context().Name()
}

// ErrRateLimited means the registry answered 429: try again later, not sooner than the usual interval.
var ErrRateLimited = errors.New("registry rate limit reached")

// Checker asks registries for the digest a tag points at.
type Checker struct {
	// Transport carries every request (the worker's guarded transport); nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Keychain resolves credentials per registry; nil means the worker's Docker config (DOCKER_CONFIG or
	// ~/.docker/config.json, as `docker login` writes it), anonymous where it has none.
	Keychain authn.Keychain
}

// Digest returns the manifest digest the registry serves now for the canonical reference (for a multi-platform
// image, the index's digest: what `docker pull` records in the image's RepoDigests).
func (c *Checker) Digest(ctx context.Context, canonical string) (string, error) {
	ref, err := name.NewTag(canonical, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", canonical, err)
	}
	kc := c.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := c.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(tr), remote.WithAuthFromKeychain(kc))
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests {
			return "", ErrRateLimited
		}
		return "", fmt.Errorf("%s: %w", canonical, err)
	}
	return desc.Digest.String(), nil
}

// Status is what is known about a container's image against its registry.
type Status string

// Statuses of a container's image.
const (
	// UpdateAvailable: the registry serves a different image for the tag than the container's.
	UpdateAvailable Status = "update_available"
	// UpToDate: the registry serves the container's image for the tag.
	UpToDate Status = "up_to_date"
	// Pinned: the container names its image by digest or ID; no tag can move.
	Pinned Status = "pinned"
	// Unknown: not checked yet, the registry could not be asked, or the image carries no registry digest (built
	// locally, or loaded from a file).
	Unknown Status = "unknown"
)

// Compare tells a container's status from the digest its tag points at now and the registry digests of the image it
// runs (RepoDigests, "repo@sha256:..."): only digests of the same repository count.
func Compare(canonical, remoteDigest string, repoDigests []string) Status {
	if remoteDigest == "" {
		return Unknown
	}
	repo := Repository(canonical)
	seen := false
	for _, rd := range repoDigests {
		r, d, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		if n, err := name.NewRepository(r, name.WeakValidation); err != nil || n.Name() != repo {
			continue
		}
		seen = true
		if d == remoteDigest {
			return UpToDate
		}
	}
	if !seen {
		return Unknown
	}
	return UpdateAvailable
}
