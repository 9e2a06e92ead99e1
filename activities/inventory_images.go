package activities

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/imageupdate"
	"github.com/infrastructor/infrastructor/internal/store"
)

// How often the registry is asked about one image reference, fleet-wide: Docker Hub limits anonymous clients, and
// a tag rarely moves more than daily. A failed check is retried sooner.
const (
	ImageCheckEvery      = 6 * time.Hour
	ImageCheckRetryAfter = time.Hour
)

// imageChecker asks a registry for a reference's current digest (imageupdate.Checker in production).
type imageChecker interface {
	RemoteDigest(ctx context.Context, ref string) (string, error)
}

// ensureImageCheck returns the fleet's registry answer for ref, asking the registry only when the stored answer
// is older than ImageCheckEvery (ImageCheckRetryAfter after a failure). The per-reference lock makes concurrent
// collections on several devices wait for one check instead of each asking. A registry that does not answer is a
// stored error (the update state is then unknown), never a failed collection.
func ensureImageCheck(ctx context.Context, db *pgxpool.Pool, ref string, now time.Time, checker imageChecker) (*store.ImageCheck, error) {
	var out *store.ImageCheck
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		prev, err := store.LockImageCheck(ctx, tx, ref)
		if err != nil {
			return err
		}
		if prev != nil {
			every := ImageCheckEvery
			if prev.Error != "" {
				every = ImageCheckRetryAfter
			}
			if now.Sub(prev.CheckedAt) < every {
				out = prev
				return nil
			}
		}
		c := &store.ImageCheck{Reference: ref, CheckedAt: now}
		digest, err := checker.RemoteDigest(ctx, ref)
		if err != nil {
			c.Error = clipText(err.Error(), 300)
		} else {
			c.RemoteDigest = digest
		}
		out = c
		return store.SaveImageCheck(ctx, tx, c)
	})
	return out, err
}

// collectImages reads the repository digests of the images the device's running containers use (one docker
// image inspect) and compares them with what the registries serve for their references now.
func collectImages(ctx context.Context, db *pgxpool.Pool, dev *store.Device, now time.Time, run runScript, checker imageChecker) (*collected, error) {
	now = now.UTC()
	out := &collected{checks: map[string][]alert.Reading{}}
	if !dockerAvailable(dev) {
		out.summary = "no docker"
		return out, store.ReplaceContainerImages(ctx, db, dev.ID, now, nil)
	}
	cs, err := store.LoadContainers(ctx, db, dev.ID)
	if err != nil {
		return nil, err
	}
	var running []docker.Container
	idSet := map[string]bool{}
	for _, c := range cs {
		if c.State != docker.StateRunning {
			continue
		}
		running = append(running, c)
		if c.ImageID != "" && len(idSet) < imageupdate.MaxImages {
			idSet[c.ImageID] = true
		}
	}
	digests := map[string][]string{}
	if len(idSet) > 0 {
		ids := make([]string, 0, len(idSet))
		for id := range idSet {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		cmd, err := imageupdate.InspectCommand(ids)
		if err != nil {
			return nil, fmt.Errorf("images %s: %w", dev.Name, err)
		}
		if dev.DockerHost != nil {
			if cmd, err = docker.WithDockerHost(cmd, *dev.DockerHost); err != nil {
				return nil, fmt.Errorf("images %s: %w", dev.Name, err)
			}
		}
		res, err := run(ctx, cmd)
		if err != nil {
			return nil, fmt.Errorf("images %s: %w", dev.Name, err)
		}
		if res.ExitCode != 0 {
			// An image removed since the poll makes inspect fail for all; the next collection sees the new state.
			return nil, fmt.Errorf("images %s: docker image inspect: exit %d: %s", dev.Name, res.ExitCode, firstLine(res.Stderr))
		}
		if digests, err = imageupdate.ParseInspect(res.Stdout); err != nil {
			return nil, fmt.Errorf("images %s: %w", dev.Name, err)
		}
	}
	checks := map[string]*store.ImageCheck{}
	imgs := make([]store.ContainerImage, 0, len(running))
	available := 0
	for _, c := range running {
		ci := store.ContainerImage{ContainerID: c.ID, ContainerName: c.Name, ComposeProject: c.ComposeProject,
			Image: c.Image, ImageID: c.ImageID}
		if ref, ok := imageupdate.Normalize(c.Image); ok {
			ci.Reference = ref
			ci.LocalDigests = imageupdate.LocalDigests(ref, digests[c.ImageID])
			if _, done := checks[ref]; !done {
				chk, err := ensureImageCheck(ctx, db, ref, now, checker)
				if err != nil {
					return nil, err
				}
				checks[ref] = chk
			}
			if imageupdate.Compare(ci.LocalDigests, checks[ref].RemoteDigest) == imageupdate.StateAvailable {
				available++
			}
		}
		imgs = append(imgs, ci)
	}
	if err := store.ReplaceContainerImages(ctx, db, dev.ID, now, imgs); err != nil {
		return nil, err
	}
	out.summary = fmt.Sprintf("%d running containers, %d with a newer image", len(imgs), available)
	return out, nil
}

// imagesCollector checks the running containers' images against their registries.
type imagesCollector struct{}

func (imagesCollector) Name() string         { return "images" }
func (imagesCollector) Every() time.Duration { return time.Hour }
func (imagesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	c, err := collectImages(ctx, env.DB, env.Device, env.Now, env.Run, &imageupdate.Checker{})
	return c.outcome(), err
}
