package docker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// imageDigestsScript prints, for the image of every running container, its ID and registry digests:
// "<image id> <RepoDigests as JSON>" per line.
const imageDigestsScript = `ids=$(docker ps -q --no-trunc | xargs -r docker inspect --format '{{.Image}}' | sort -u)
[ -z "$ids" ] || docker image inspect --format '{{.Id}} {{json .RepoDigests}}' $ids`

// ImageDigests returns the command that lists the registry digests of the images running containers use; parse
// its output with ParseImageDigests.
func ImageDigests() string { return script(imageDigestsScript) }

// MaxImages bounds how many images ParseImageDigests keeps; MaxRepoDigests how many digests per image.
const (
	MaxImages      = 1024
	MaxRepoDigests = 32
)

// ImageDigest is one local image and the registry digests docker recorded when it pulled it (none for an image
// built or loaded locally).
type ImageDigest struct {
	ID          string
	RepoDigests []string
}

// ParseImageDigests parses ImageDigests' output. Lines that do not parse are skipped; more than MaxImages images
// is an error (no real host runs that many distinct images in its containers).
func ParseImageDigests(out []byte) ([]ImageDigest, error) {
	var images []ImageDigest
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		id, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok || !strings.HasPrefix(id, "sha256:") || len(id) > 100 {
			continue
		}
		var digests []string
		if json.Unmarshal([]byte(rest), &digests) != nil {
			continue
		}
		keep := make([]string, 0, min(len(digests), MaxRepoDigests))
		for _, d := range digests {
			if len(keep) < MaxRepoDigests && len(d) <= 512 && strings.Contains(d, "@sha256:") {
				keep = append(keep, d)
			}
		}
		if len(images) == MaxImages {
			return nil, fmt.Errorf("image digests: more than %d images", MaxImages)
		}
		images = append(images, ImageDigest{ID: id, RepoDigests: keep})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("image digests: %w", err)
	}
	return images, nil
}
