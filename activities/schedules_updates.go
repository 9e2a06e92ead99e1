package activities

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
)

// composeUpdates reads from the database which of a device's compose projects have a running container whose
// image has an update in its registry (by the last image check: the same verdict as GET /image-updates), with
// those containers, and every compose project with running containers, by name.
func (a *Activities) composeUpdates(ctx context.Context, deviceID uuid.UUID) (map[string][]string, []string, error) {
	containers, err := store.RunningContainerImages(ctx, a.DB, &deviceID)
	if err != nil {
		return nil, nil, err
	}
	checks, err := store.ImageChecks(ctx, a.DB)
	if err != nil {
		return nil, nil, err
	}
	updates := map[string][]string{}
	var projects []string
	for _, c := range containers {
		if c.ComposeProject == "" {
			continue
		}
		if !slices.Contains(projects, c.ComposeProject) {
			projects = append(projects, c.ComposeProject)
		}
		if imageHasUpdate(c, checks) {
			updates[c.ComposeProject] = append(updates[c.ComposeProject], c.Container)
		}
	}
	slices.Sort(projects)
	return updates, projects, nil
}

// imageHasUpdate reports whether the registry's last good answer for the container's image reference is an image
// the container does not run. A failed last check is not an update: what the registry served before may have
// changed since.
func imageHasUpdate(c store.ContainerImage, checks map[string]store.ImageCheck) bool {
	ref, ok := registry.Normalize(c.Image)
	if !ok {
		return false
	}
	chk, ok := checks[ref]
	if !ok || chk.Error != "" {
		return false
	}
	return registry.Compare(ref, chk.RemoteDigest, c.RepoDigests) == registry.UpdateAvailable
}
