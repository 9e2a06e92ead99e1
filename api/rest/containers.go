package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// containerRoutes registers the container inventory, details and logs.
func (s *Server) containerRoutes(v1 fiber.Router) {
	read := require(store.ScopeRead)
	v1.Get("/containers", read, s.listAllContainers)
	v1.Get("/devices/:id/containers", read, s.listDeviceContainers)
	v1.Get("/devices/:id/containers/:ref", read, s.getContainer)
	v1.Get("/devices/:id/containers/:ref/logs", read, s.containerLogs)
}

func (s *Server) listAllContainers(c *fiber.Ctx) error {
	var dev *uuid.UUID
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return service.Invalid(map[string]string{"device_id": "must be a device id (UUID)"})
		}
		dev = &id
	}
	return s.listContainers(c, dev)
}

func (s *Server) listDeviceContainers(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	return s.listContainers(c, &d.ID)
}

func (s *Server) listContainers(c *fiber.Ctx, dev *uuid.UUID) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.ContainerFilter{DeviceID: dev, State: c.Query("state"), Project: c.Query("project"), Name: c.Query("name"), Limit: limit}
	fields := map[string]string{}
	switch docker.State(f.State) {
	case "", docker.StateCreated, docker.StateRunning, docker.StatePaused, docker.StateRestarting, docker.StateRemoving,
		docker.StateExited, docker.StateDead:
	default:
		fields["state"] = "must be created, running, paused, restarting, removing, exited or dead"
	}
	f.After = nameAfter(cursor, fields)
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	rows, next, err := store.ListContainers(c.UserContext(), s.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page(rows, cursorOf(next)))
}

// containerRef validates :ref against Docker's name/ID grammar.
func containerRef(c *fiber.Ctx) (string, error) {
	ref := c.Params("ref")
	if err := docker.ValidRef(ref); err != nil {
		return "", service.Invalid(map[string]string{"ref": "must be a container name or ID"})
	}
	return ref, nil
}

func (s *Server) getContainer(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	ref, err := containerRef(c)
	if err != nil {
		return err
	}
	row, err := store.GetContainer(c.UserContext(), s.Pool, d.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return service.NotFound("container " + ref + " on device " + d.Name)
	}
	if err != nil {
		return err
	}
	latest, err := store.LatestContainerSample(c.UserContext(), s.Pool, d.ID, row.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"container": row, "latest_stats": latest, "docker": json.RawMessage(orNull(d.Docker))})
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// containerLogs fetches logs through a ContainerLogs workflow (the API never talks SSH) and returns the lines,
// stdout and stderr marked, newest last.
func (s *Server) containerLogs(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	ref, err := containerRef(c)
	if err != nil {
		return err
	}
	in := activities.FetchLogsInput{FetchID: uuid.NewString(), DeviceID: d.ID.String(), Ref: ref,
		Tail: c.Query("tail"), Since: c.Query("since"), Until: c.Query("until")}
	fields := map[string]string{}
	if _, err := docker.NormalizeTail(in.Tail); err != nil {
		fields["tail"] = `must be a line count or "all"`
	}
	for name, v := range map[string]string{"since": in.Since, "until": in.Until} {
		if _, err := docker.NormalizeTime(name, v); err != nil {
			fields[name] = `must be an RFC 3339 time, unix seconds, or a duration such as "10m"`
		}
	}
	timestamps := c.Query("timestamps", "true") != "false"
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	fetch, err := s.FetchLogs(c.UserContext(), in)
	if err != nil {
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &app) && app.Type() == activities.ErrTypeContainerNotFound:
			return service.NotFound("container " + ref + " on device " + d.Name)
		case errors.As(err, &app):
			return service.Errorf(http.StatusBadGateway, "device_error", app.Message())
		case errors.Is(err, context.DeadlineExceeded):
			return service.Errorf(http.StatusGatewayTimeout, "timeout", "the device did not answer in time")
		}
		return err
	}
	s.AuditRead(tokenOf(c), c.IP(), service.AuditReadContainerLogs, "device/"+d.ID.String()+"/containers/"+ref,
		map[string]any{"interface": "rest", "tail": in.Tail, "since": in.Since, "until": in.Until, "lines": len(fetch.Lines)})
	if !timestamps {
		for i := range fetch.Lines {
			fetch.Lines[i].Time = time.Time{}
		}
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "container": ref, "lines": fetch.Lines, "truncated": fetch.Truncated})
}
