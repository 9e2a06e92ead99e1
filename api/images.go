package api

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

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

// imageUpdates returns the image status of every running container (of one device when dev is set), updates
// first.
func (s *Server) imageUpdates(ctx context.Context, dev *uuid.UUID) ([]ContainerImageUpdate, error) {
	containers, err := store.RunningContainerImages(ctx, s.pool, dev)
	if err != nil {
		return nil, err
	}
	checks, err := store.ImageChecks(ctx, s.pool)
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

// projectsWithUpdates lists, per device, the compose projects with at least one container whose image has an
// update, so a user (or a schedule) can pull and recreate exactly those.
func projectsWithUpdates(list []ContainerImageUpdate) []fiber.Map {
	type key struct {
		dev     uuid.UUID
		project string
	}
	seen := map[key]int{}
	var out []fiber.Map
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
		out = append(out, fiber.Map{"device_id": u.DeviceID, "device": u.Device, "project": u.ComposeProject,
			"containers": []string{u.Container}})
	}
	if out == nil {
		out = []fiber.Map{}
	}
	return out
}

// listImageUpdates answers GET /api/v1/image-updates: every running container's image status, updates first, and
// the compose projects that have updates.
func (s *Server) listImageUpdates(c *fiber.Ctx) error {
	var dev *uuid.UUID
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return invalid(map[string]string{"device_id": "must be a device id (UUID)"})
		}
		dev = &id
	}
	status := registry.Status(c.Query("status"))
	switch status {
	case "", registry.UpdateAvailable, registry.UpToDate, registry.Pinned, registry.Unknown:
	default:
		return invalid(map[string]string{"status": "must be update_available, up_to_date, pinned or unknown"})
	}
	list, err := s.imageUpdates(c.UserContext(), dev)
	if err != nil {
		return err
	}
	projects := projectsWithUpdates(list)
	if status != "" {
		list = slices.DeleteFunc(list, func(u ContainerImageUpdate) bool { return u.Status != status })
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

// addImageTools registers the MCP tool of image updates.
func (e *mcpEndpoint) addImageTools() {
	e.tool(mcp.NewTool("list_image_updates",
		mcp.WithDescription("Running containers whose image tag now points at a newer image in its registry (updates first), and the compose projects to pull and recreate (container_action with project and action pull, then up). Registries are asked once per image reference for the whole fleet, every few hours; unknown means not checked yet, registry unreachable, or a locally built image."),
		annotations("List image updates", true, false, true, false),
		mcp.WithString("device", mcp.Description("Device name or id; all devices when omitted.")),
		mcp.WithBoolean("only_updates", mcp.Description("Only containers with an update (default true).")),
	), optionalDeviceTool(e, e.listImageUpdates))
}

type imageUpdatesArgs struct {
	deviceRef
	OnlyUpdates *bool `json:"only_updates"`
}

func (e *mcpEndpoint) listImageUpdates(ctx context.Context, _ *toolCall, d *store.Device, args *imageUpdatesArgs) (*mcp.CallToolResult, error) {
	var dev *uuid.UUID
	if d != nil {
		dev = &d.ID
	}
	list, err := e.s.imageUpdates(ctx, dev)
	if err != nil {
		return nil, err
	}
	projects := projectsWithUpdates(list)
	updates := 0
	for _, u := range list {
		if u.Status == registry.UpdateAvailable {
			updates++
		}
	}
	if args.OnlyUpdates == nil || *args.OnlyUpdates {
		list = slices.DeleteFunc(list, func(u ContainerImageUpdate) bool { return u.Status != registry.UpdateAvailable })
	}
	lines := []string{fmt.Sprintf("%d running container(s) have a newer image in their registry; %d compose project(s) to update.", updates, len(projects))}
	for _, u := range list {
		l := fmt.Sprintf("- %s on %s: %s is %s", u.Container, u.Device, u.Image, u.Status)
		if u.Error != "" {
			l += " (last check failed: " + u.Error + ")"
		}
		lines = append(lines, l)
	}
	return textResult(map[string]any{"items": list, "projects_with_updates": projects}, lines...), nil
}
