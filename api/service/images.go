package service

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
)

// ContainerImageUpdate is a running container's image against its registry: whether the tag it was started from
// now points at another image.
type ContainerImageUpdate struct {
	DeviceID       uuid.UUID       `json:"device_id"`
	Device         string          `json:"device"`
	Container      string          `json:"container"`
	Image          string          `json:"image"`
	ComposeProject string          `json:"compose_project,omitempty"`
	Status         registry.Status `json:"status"`
	// Ref is the canonical reference the registry was asked about; empty for pinned images.
	Ref          string     `json:"ref,omitempty"`
	RemoteDigest string     `json:"remote_digest,omitempty"`
	CheckedAt    *time.Time `json:"checked_at,omitempty"`
	// Error is why the registry could not be asked at the last check (the status is then unknown, or what the
	// check before it found).
	Error string `json:"error,omitempty"`
}

// ImageUpdates returns the image status of every running container (of one device when dev is set), updates
// first.
func (s *Service) ImageUpdates(ctx context.Context, dev *uuid.UUID) ([]ContainerImageUpdate, error) {
	containers, err := store.RunningContainerImages(ctx, s.Pool, dev)
	if err != nil {
		return nil, err
	}
	checks, err := store.ImageChecks(ctx, s.Pool)
	if err != nil {
		return nil, err
	}
	out := make([]ContainerImageUpdate, 0, len(containers))
	for _, c := range containers {
		u := ContainerImageUpdate{DeviceID: c.DeviceID, Device: c.Device, Container: c.Container, Image: c.Image,
			ComposeProject: c.ComposeProject, Status: registry.Pinned}
		if ref, ok := registry.Normalize(c.Image); ok {
			u.Ref, u.Status = ref, registry.Unknown
			if chk, ok := checks[ref]; ok {
				at := chk.CheckedAt
				u.CheckedAt, u.RemoteDigest, u.Error = &at, chk.RemoteDigest, chk.Error
				u.Status = registry.Compare(ref, chk.RemoteDigest, c.RepoDigests)
				if chk.Error != "" {
					// The registry could not be asked: what it served before may have changed since.
					u.Status = registry.Unknown
				}
			}
		}
		out = append(out, u)
	}
	slices.SortStableFunc(out, func(a, b ContainerImageUpdate) int {
		return btoi(b.Status == registry.UpdateAvailable) - btoi(a.Status == registry.UpdateAvailable)
	})
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ProjectsWithUpdates lists, per device, the compose projects with at least one container whose image has an
// update, so a user (or a schedule) can pull and recreate exactly those.
func ProjectsWithUpdates(list []ContainerImageUpdate) []map[string]any {
	type key struct {
		dev     uuid.UUID
		project string
	}
	seen := map[key]int{}
	var out []map[string]any
	for _, u := range list {
		if u.Status != registry.UpdateAvailable || u.ComposeProject == "" {
			continue
		}
		k := key{u.DeviceID, u.ComposeProject}
		if i, ok := seen[k]; ok {
			out[i]["containers"] = append(out[i]["containers"].([]string), u.Container)
			continue
		}
		seen[k] = len(out)
		out = append(out, map[string]any{"device_id": u.DeviceID, "device": u.Device, "project": u.ComposeProject,
			"containers": []string{u.Container}})
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out
}
