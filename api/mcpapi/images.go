package mcpapi

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/registry"
	"github.com/infrastructor/infrastructor/internal/store"
)

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
	list, err := e.s.ImageUpdates(ctx, dev)
	if err != nil {
		return nil, err
	}
	projects := service.ProjectsWithUpdates(list)
	updates := 0
	for _, u := range list {
		if u.Status == registry.UpdateAvailable {
			updates++
		}
	}
	if args.OnlyUpdates == nil || *args.OnlyUpdates {
		list = slices.DeleteFunc(list, func(u service.ContainerImageUpdate) bool { return u.Status != registry.UpdateAvailable })
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
