package api

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/imageupdate"
	"github.com/infrastructor/infrastructor/internal/store"
)

// projectImages sums a compose project's containers with a newer image.
type projectImages struct {
	Device     string `json:"device"`
	Project    string `json:"project"`
	Containers int    `json:"containers"`
	Available  int    `json:"update_available"`
}

// imageUpdates lists running containers' images with update_available, and the compose projects with updates.
func (s *Server) imageUpdates(ctx context.Context, device *uuid.UUID, onlyAvailable bool) ([]*store.ContainerImage, []projectImages, error) {
	rows, err := store.ListContainerImages(ctx, s.pool, device)
	if err != nil {
		return nil, nil, err
	}
	items := []*store.ContainerImage{}
	projects := []projectImages{}
	index := map[string]int{}
	for _, r := range rows {
		r.UpdateAvailable = imageupdate.Compare(r.LocalDigests, r.RemoteDigest)
		if r.ComposeProject != "" {
			k := r.DeviceName + "\x00" + r.ComposeProject
			i, ok := index[k]
			if !ok {
				i = len(projects)
				index[k] = i
				projects = append(projects, projectImages{Device: r.DeviceName, Project: r.ComposeProject})
			}
			projects[i].Containers++
			if r.UpdateAvailable == imageupdate.StateAvailable {
				projects[i].Available++
			}
		}
		if onlyAvailable && r.UpdateAvailable != imageupdate.StateAvailable {
			continue
		}
		items = append(items, r)
	}
	return items, projects, nil
}

func (s *Server) answerImageUpdates(c *fiber.Ctx, device *uuid.UUID) error {
	fields := map[string]string{}
	only := boolQuery(c, "available", fields)
	if len(fields) > 0 {
		return invalid(fields)
	}
	items, projects, err := s.imageUpdates(c.UserContext(), device, only)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items, "projects": projects, "next_cursor": nil})
}

// fleetImageUpdates answers GET /image-updates.
func (s *Server) fleetImageUpdates(c *fiber.Ctx) error { return s.answerImageUpdates(c, nil) }

// deviceImageUpdates answers GET /devices/{id}/image-updates.
func (s *Server) deviceImageUpdates(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	return s.answerImageUpdates(c, &d.ID)
}
