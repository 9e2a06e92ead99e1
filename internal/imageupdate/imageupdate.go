// Package imageupdate tells whether a registry now serves a different image for the reference a container runs
// (#13): it reads the repository digests of the images on a device (docker image inspect) and asks the registry
// for the reference's current manifest digest with an HTTP HEAD (registry API v2; a HEAD does not count against
// Docker Hub's pull limits), anonymously.
package imageupdate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Limits.
const (
	// MaxImages bounds the images of one inspect command.
	MaxImages = 500
	// maxRefBytes bounds a reference.
	maxRefBytes = 512
	// maxDigests bounds the repository digests kept per image.
	maxDigests = 32
)

// Update states of a container's image.
const (
	StateAvailable = "available" // the registry serves a different digest for the reference
	StateCurrent   = "current"   // the container runs what the registry serves
	StateUnknown   = "unknown"   // not comparable: built locally, pinned by digest, or the registry did not answer
)

var imageID = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// InspectFormat is the --format of InspectCommand: one line per image, its id and its repository digests, both
// as JSON (the device wrapper compares it literally).
const InspectFormat = "{{json .Id}} {{json .RepoDigests}}"

// InspectCommand returns the docker command printing the repository digests of the images ids (sha256:...).
func InspectCommand(ids []string) (string, error) {
	if len(ids) == 0 || len(ids) > MaxImages {
		return "", &docker.ArgError{Arg: "images", Value: fmt.Sprint(len(ids)), Reason: fmt.Sprintf("between 1 and %d images", MaxImages)}
	}
	argv := []string{"docker", "image", "inspect", "--format", InspectFormat, "--"}
	for _, id := range ids {
		if !imageID.MatchString(id) {
			return "", &docker.ArgError{Arg: "image", Value: id, Reason: "not an image id (sha256:<64 hex digits>)"}
		}
		argv = append(argv, id)
	}
	return docker.Join(argv...), nil
}

// ParseInspect reads InspectCommand's output: image id → repository digests ("repo@sha256:...").
func ParseInspect(out []byte) (map[string][]string, error) {
	res := map[string][]string{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		idPart, rest, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			return nil, fmt.Errorf("image inspect: unexpected line %q", clip(string(line), 80))
		}
		var id string
		var digests []string
		if err := json.Unmarshal(idPart, &id); err != nil {
			return nil, fmt.Errorf("image inspect: id: %w", err)
		}
		if err := json.Unmarshal(rest, &digests); err != nil {
			return nil, fmt.Errorf("image inspect: repo digests: %w", err)
		}
		if len(digests) > maxDigests {
			digests = digests[:maxDigests]
		}
		for i := range digests {
			digests[i] = clip(digests[i], maxRefBytes)
		}
		if len(res) < MaxImages {
			res[clip(id, 80)] = digests
		}
	}
	return res, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Normalize returns the canonical form of the reference a container was created from ("nginx" →
// "index.docker.io/library/nginx:latest"); ok is false for a reference pinned by digest (nothing newer can be
// served for it) or one that does not parse (an image id).
func Normalize(ref string) (string, bool) {
	if ref == "" || len(ref) > maxRefBytes || strings.Contains(ref, "@") || strings.HasPrefix(ref, "sha256:") {
		return "", false
	}
	t, err := name.NewTag(ref)
	if err != nil {
		return "", false
	}
	return t.Name(), true
}

// LocalDigests returns the manifest digests the device has for ref's repository, from an image's repository
// digests.
func LocalDigests(ref string, repoDigests []string) []string {
	t, err := name.NewTag(ref)
	if err != nil {
		return nil
	}
	var out []string
	for _, rd := range repoDigests {
		d, err := name.NewDigest(rd)
		if err != nil {
			continue
		}
		if d.Context().Name() == t.Context().Name() {
			out = append(out, d.DigestStr())
		}
	}
	sort.Strings(out)
	return out
}

// Compare says whether an update is available for a container whose image has local digests, given the registry's
// current digest for its reference ("" when unknown).
func Compare(local []string, remote string) string {
	if remote == "" || len(local) == 0 {
		return StateUnknown
	}
	for _, d := range local {
		if d == remote {
			return StateCurrent
		}
	}
	return StateAvailable
}

// Checker asks registries for the current digest of a reference.
type Checker struct {
	// Timeout bounds one check (default 20 s).
	Timeout time.Duration
	// Transport is the HTTP transport (default http.DefaultTransport).
	Transport http.RoundTripper
}

// RemoteDigest returns the digest the registry serves for the normalized reference ref, with a HEAD on its
// manifest (the registry's token flow is followed anonymously).
func (c *Checker) RemoteDigest(ctx context.Context, ref string) (string, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return "", err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := c.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	desc, err := remote.Head(t, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous), remote.WithTransport(tr),
		remote.WithUserAgent("infrastructor"))
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
