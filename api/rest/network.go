package rest

import (
	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/internal/netinfo"
)

// deviceNetwork answers a device's interfaces, default routes and subnets.
func (s *Server) deviceNetwork(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	n, err := s.NetworkOf(c.UserContext(), d)
	if err != nil {
		return err
	}
	host := netinfo.Host{Interfaces: n.Interfaces, DefaultRoutes: n.DefaultRoutes}
	return c.JSON(fiber.Map{"device_id": d.ID, "device_name": d.Name, "interfaces": n.Interfaces,
		"default_routes": n.DefaultRoutes, "subnets": host.Subnets(), "errors": n.Errors, "truncated": n.Truncated,
		"collected_at": n.CollectedAt})
}

// deviceDockerNetworks answers a device's Docker networks with their subnets and attached containers.
func (s *Server) deviceDockerNetworks(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	n, err := s.NetworkOf(c.UserContext(), d)
	if err != nil {
		return err
	}
	items := n.DockerNetworks
	if items == nil {
		items = []netinfo.DockerNetwork{}
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "device_name": d.Name, "docker": n.DockerNetworks != nil,
		"docker_error": n.DockerError, "items": items, "collected_at": n.CollectedAt, "next_cursor": nil})
}

// containerDependencies answers GET /devices/{id}/containers/{ref}/dependencies.
func (s *Server) containerDependencies(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	ref, err := containerRef(c)
	if err != nil {
		return err
	}
	out, err := s.Dependencies(c.UserContext(), d, ref)
	if err != nil {
		return err
	}
	return c.JSON(out)
}
