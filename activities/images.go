package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/store"
)

// DefaultImageCheckInterval is how long a registry's answer for an image reference is trusted: one check per
// reference per fleet in that time keeps far below Docker Hub's limits.
const DefaultImageCheckInterval = 6 * time.Hour

// imagesCollector reads the registry digests of the images a device's running containers use, for the fleet's
// image update checks.
type imagesCollector struct{}

func (imagesCollector) Name() string         { return "images" }
func (imagesCollector) Every() time.Duration { return 0 }

func (imagesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	if env.Device.Docker == nil {
		return &InventoryOutcome{}, nil // no container inventory yet, or no docker
	}
	host := ""
	if env.Device.DockerHost != nil {
		host = *env.Device.DockerHost
	}
	cmd, err := docker.WithDockerHost(docker.ImageDigests(), host)
	if err != nil {
		return nil, err
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		// docker absent or refusing: the poll's container inventory already says which.
		return &InventoryOutcome{Summary: "images: docker unavailable"}, nil
	}
	images, err := docker.ParseImageDigests(res.Stdout)
	if err != nil {
		return nil, err
	}
	stored := make([]store.DeviceImage, 0, len(images))
	for _, im := range images {
		stored = append(stored, store.DeviceImage{ID: im.ID, RepoDigests: im.RepoDigests})
	}
	if err := store.ReplaceDeviceImages(ctx, env.DB, env.Device.ID, stored, env.Now); err != nil {
		return nil, err
	}
	return &InventoryOutcome{Summary: fmt.Sprintf("%d images", len(images))}, nil
}

// CheckImageUpdatesInput asks for the fleet's image checks; Force checks every reference, however recent its
// last check.
type CheckImageUpdatesInput struct {
	Force bool `json:",omitempty"`
}

// CheckImageUpdatesResult counts what a round of image checks did.
type CheckImageUpdatesResult struct {
	Checked int `json:",omitempty"`
	Failed  int `json:",omitempty"`
	// Fresh references were checked recently enough; Untrackable ones are pinned by digest or ID.
	Fresh       int `json:",omitempty"`
	Untrackable int `json:",omitempty"`
}

// CheckImageUpdates asks each image reference's registry, once per reference across the fleet and at most every
// image check interval, which digest its tag points at now. A registry that cannot be asked is recorded with the
// reference (its containers read "unknown"), never an error of the activity.
func (a *Activities) CheckImageUpdates(ctx context.Context, in CheckImageUpdatesInput) (*CheckImageUpdatesResult, error) {
	refs, err := store.RunningImageRefs(ctx, a.DB)
	if err != nil {
		return nil, fmt.Errorf("image refs: %w", err)
	}
	checks, err := store.ImageChecks(ctx, a.DB)
	if err != nil {
		return nil, fmt.Errorf("image checks: %w", err)
	}
	every := a.ImageCheckInterval
	if every <= 0 {
		every = DefaultImageCheckInterval
	}
	var targets notify.Targets
	if a.Notify != nil {
		targets = a.Notify.Targets
	}
	checker := &registry.Checker{Transport: notify.NewClient(targets, 20*time.Second).Transport}
	stop := heartbeat(ctx, "checking image updates")
	defer stop()

	res := &CheckImageUpdatesResult{}
	seen := map[string]bool{}
	for _, ref := range refs {
		canonical, ok := registry.Normalize(ref)
		if !ok {
			res.Untrackable++
			continue
		}
		if seen[canonical] {
			continue
		}
		seen[canonical] = true
		now := a.now()
		if c, ok := checks[canonical]; ok && !in.Force && now.Sub(c.CheckedAt) < every {
			res.Fresh++
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		digest, derr := checker.Digest(cctx, canonical)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		check := store.ImageCheck{Ref: canonical, CheckedAt: now, RemoteDigest: digest}
		if derr != nil {
			res.Failed++
			check.Error = safetext.Clip(derr.Error(), 300)
			if errors.Is(derr, registry.ErrRateLimited) {
				check.Error = "the registry's rate limit is reached; checked again later"
			}
		} else {
			res.Checked++
		}
		if err := store.SaveImageCheck(ctx, a.DB, check); err != nil {
			return nil, fmt.Errorf("save image check of %s: %w", canonical, err)
		}
	}
	return res, nil
}
