package mcpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// deviceRef is embedded by the arguments of tools that name a device (by name or id).
type deviceRef struct {
	Device string `json:"device"`
}

func (r deviceRef) deviceName() string { return r.Device }

// namesDevice is what deviceTool needs of the arguments: an embedded deviceRef.
type namesDevice interface{ deviceName() string }

// limitArg is embedded by the arguments of list tools. typedTool replaces a missing or non-positive limit with
// the schema's default and caps it at the schema's maximum.
type limitArg struct {
	Limit int `json:"limit"`
}

func (l *limitArg) limitField() *int { return &l.Limit }

// typedTool decodes the call's arguments into a fresh A (a tool error naming the problem when they do not fit)
// and clamps its limit, then runs h.
func typedTool[A any](h func(ctx context.Context, call *toolCall, args *A) (*mcp.CallToolResult, error)) toolHandler {
	return func(ctx context.Context, call *toolCall) (*mcp.CallToolResult, error) {
		args := new(A)
		if err := bind(call, args); err != nil {
			return nil, err
		}
		if l, ok := any(args).(interface{ limitField() *int }); ok {
			*l.limitField() = call.clampLimit(*l.limitField())
		}
		return h(ctx, call, args)
	}
}

// deviceTool is typedTool for tools that need a device: the device is resolved by id or name (a tool error
// telling the model to call list_devices when there is none) before h runs.
func deviceTool[A any, P interface {
	*A
	namesDevice
}](e *mcpEndpoint, h func(ctx context.Context, call *toolCall, d *store.Device, args *A) (*mcp.CallToolResult, error)) toolHandler {
	return typedTool(func(ctx context.Context, call *toolCall, args *A) (*mcp.CallToolResult, error) {
		d, err := e.resolveDevice(ctx, P(args).deviceName())
		if err != nil {
			return nil, err
		}
		return h(ctx, call, d, args)
	})
}

// optionalDeviceTool is deviceTool for tools whose device is optional (all devices when omitted): h gets a nil
// device then.
func optionalDeviceTool[A any, P interface {
	*A
	namesDevice
}](e *mcpEndpoint, h func(ctx context.Context, call *toolCall, d *store.Device, args *A) (*mcp.CallToolResult, error)) toolHandler {
	return typedTool(func(ctx context.Context, call *toolCall, args *A) (*mcp.CallToolResult, error) {
		var d *store.Device
		if ref := P(args).deviceName(); ref != "" {
			var err error
			if d, err = e.resolveDevice(ctx, ref); err != nil {
				return nil, err
			}
		}
		return h(ctx, call, d, args)
	})
}

// property is the schema of one of the tool's arguments (nil when it has none).
func (c *toolCall) property(name string) map[string]any {
	p, _ := c.tool.InputSchema.Properties[name].(map[string]any)
	return p
}

// clampLimit applies the limit property's default (to zero or less) and maximum.
func (c *toolCall) clampLimit(n int) int {
	p := c.property("limit")
	if def, ok := schemaInt(p["default"]); ok && n <= 0 {
		n = def
	}
	if most, ok := schemaInt(p["maximum"]); ok && n > most {
		n = most
	}
	return max(n, 1)
}

func schemaInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}

// oneOf checks v against the enum of the argument name in the tool's schema: mcp-go passes any value through, so
// the handler must not trust the schema. An optional argument may be empty.
func (c *toolCall) oneOf(name, v string) error {
	values, _ := c.property(name)["enum"].([]string)
	if slices.Contains(values, v) || (v == "" && !slices.Contains(c.tool.InputSchema.Required, name)) {
		return nil
	}
	return service.Errorf(http.StatusUnprocessableEntity, "invalid_input", name+" must be "+service.EnumText(values))
}
