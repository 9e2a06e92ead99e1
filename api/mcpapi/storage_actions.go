package mcpapi

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/store"
)

// addStorageActionTools registers start_zfs_scrub and run_smart_selftest (operate scope).
func (e *mcpEndpoint) addStorageActionTools() {
	waitArg := mcp.WithInteger("wait_seconds", mcp.Description("How long to wait for the result before returning the operation id (get_operation follows it)."),
		mcp.DefaultNumber(int(mcpDefaultActionWait/time.Second)), mcp.Min(0), mcp.Max(int(mcpMaxActionWait/time.Second)))
	e.tool(mcp.NewTool("start_zfs_scrub",
		mcp.WithDescription("Scrub a ZFS pool as a durable operation: started, followed with progress notifications until it finishes (hours on large pools: the operation goes on after wait_seconds), and its result recorded with the errors found. One scrub per pool at a time; cancel_operation stops it (zpool scrub -s)."),
		annotations("Start ZFS scrub", false, false, false, true),
		deviceArg,
		mcp.WithString("pool", mcp.Required(), mcp.Description("Pool name (get_zfs_status lists them).")),
		waitArg,
	), deviceTool(e, e.startZFSScrub))
	e.tool(mcp.NewTool("run_smart_selftest",
		mcp.WithDescription("Run a SMART self-test on a drive as a durable operation (short: about 2 minutes, long: hours), followed until the drive reports the result. One test per drive at a time; cancel_operation aborts it."),
		annotations("Run SMART self-test", false, false, false, true),
		deviceArg,
		mcp.WithString("serial", mcp.Required(), mcp.Description("Drive serial (get_drive_health lists them).")),
		mcp.WithString("type", mcp.Description("short or long."), mcp.Enum(smart.SelfTestShort, smart.SelfTestLong), mcp.DefaultString(smart.SelfTestShort)),
		waitArg,
	), deviceTool(e, e.runSMARTSelfTest))
}

type scrubArgs struct {
	deviceRef
	Pool        string `json:"pool"`
	WaitSeconds *int   `json:"wait_seconds"`
}

func (e *mcpEndpoint) startZFSScrub(ctx context.Context, call *toolCall, d *store.Device, args *scrubArgs) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String() + "/" + activities.OpKindZFSScrub + "/" + args.Pool
	if d.ReadOnly {
		return nil, service.ReadOnlyDevice(d)
	}
	return e.runDeviceOperation(ctx, call, d, activities.DeviceOpInput{Kind: activities.OpKindZFSScrub, Target: args.Pool,
		Action: "scrub"}, mcpWait(args.WaitSeconds))
}

type selfTestArgs struct {
	deviceRef
	Serial      string `json:"serial"`
	Type        string `json:"type"`
	WaitSeconds *int   `json:"wait_seconds"`
}

func (e *mcpEndpoint) runSMARTSelfTest(ctx context.Context, call *toolCall, d *store.Device, args *selfTestArgs) (*mcp.CallToolResult, error) {
	call.audit.target = "device/" + d.ID.String() + "/" + activities.OpKindSMARTSelfTest + "/" + args.Serial
	if d.ReadOnly {
		return nil, service.ReadOnlyDevice(d)
	}
	if args.Type == "" {
		args.Type = smart.SelfTestShort
	}
	in, err := e.s.SelfTestInput(ctx, d, args.Serial, args.Type)
	if err != nil {
		return nil, err
	}
	return e.runDeviceOperation(ctx, call, d, in, mcpWait(args.WaitSeconds))
}
