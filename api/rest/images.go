package rest

import (
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
)

// listImageUpdates answers GET /api/v1/image-updates: every running container's image status, updates first, and
// the compose projects that have updates.
func (s *Server) listImageUpdates(c *fiber.Ctx) error {
	var dev *uuid.UUID
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return service.Invalid(map[string]string{"device_id": "must be a device id (UUID)"})
		}
		dev = &id
	}
	status := registry.Status(c.Query("status"))
	switch status {
	case "", registry.UpdateAvailable, registry.UpToDate, registry.Pinned, registry.Unknown:
	default:
		return service.Invalid(map[string]string{"status": "must be update_available, up_to_date, pinned or unknown"})
	}
	list, err := s.ImageUpdates(c.UserContext(), dev)
	if err != nil {
		return err
	}
	projects := service.ProjectsWithUpdates(list)
	if status != "" {
		list = slices.DeleteFunc(list, func(u service.ContainerImageUpdate) bool { return u.Status != status })
	}
	return c.JSON(fiber.Map{"items": list, "projects_with_updates": projects})
}

func (s *Server) imageRoutes(v1 fiber.Router) {
	v1.Get("/image-updates", require(store.ScopeRead), s.listImageUpdates)
}

var imageAPIRoutes = []route{
	{method: "get", path: "/image-updates", summary: "Running containers whose image tag now points at a newer image in its registry " +
		"(checked once per image reference for the whole fleet, every INFRA_IMAGE_CHECK_INTERVAL), updates first, and the compose " +
		"projects with updates", scope: "read", status: "200",
		params: []obj{query("device_id", "only this device's containers", "string"),
			query("status", "update_available, up_to_date, pinned or unknown", "string")},
		resp: obj{"type": "object", "properties": obj{"items": obj{"type": "array", "items": ref("ContainerImageUpdate")},
			"projects_with_updates": obj{"type": "array", "items": obj{"type": "object"}}}}},
}

func init() {
	apiRoutes = append(apiRoutes, imageAPIRoutes...)
	schemas["ContainerImageUpdate"] = obj{"type": "object", "properties": obj{
		"device_id": obj{"type": "string", "format": "uuid"}, "device": str("device name"), "container": str("container name"),
		"image": str("the image reference the container was started from"), "compose_project": str("compose project, if any"),
		"status": obj{"type": "string", "enum": []string{string(registry.UpdateAvailable), string(registry.UpToDate),
			string(registry.Pinned), string(registry.Unknown)}},
		"ref": str("canonical reference asked of the registry"), "remote_digest": str("digest the registry serves for the tag"),
		"checked_at": obj{"type": "string", "format": "date-time", "nullable": true}, "error": str("why the last check failed")}}
}
