package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/store"
)

// storageActionRoutes registers the maintenance of drives and pools (#11): shorthands for the zfs_scrub and
// smart_selftest device operations.
func (s *Server) storageActionRoutes(v1 fiber.Router) {
	operate := require(store.ScopeOperate)
	v1.Post("/devices/:id/zfs/pools/:name/actions", operate, s.poolAction)
	v1.Post("/devices/:id/drives/:serial/actions", operate, s.driveAction)
}

// poolAction: {"action":"scrub"}.
func (s *Server) poolAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	name, err := poolParam(c)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var action string
	fd := newFieldDecoder(raw)
	if !fd.get("action", &action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	if err := fd.finish(); err != nil {
		return err
	}
	return s.runDeviceAction(c, d, activities.DeviceOpInput{Kind: activities.OpKindZFSScrub, Target: name, Action: action})
}

// driveAction: {"action":"selftest","type":"short"|"long"}.
func (s *Server) driveAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	serial, err := decodedParam(c, "serial", 300)
	if err != nil {
		return err
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var action, typ string
	fd := newFieldDecoder(raw)
	if !fd.get("action", &action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	if !fd.get("type", &typ, "a string") && fd.errs["type"] == "" {
		fd.fail("type", "is required: short or long")
	}
	if err := fd.finish(); err != nil {
		return err
	}
	if action != "selftest" {
		return invalid(map[string]string{"action": "must be selftest"})
	}
	in, err := s.selfTestInput(c.UserContext(), d, serial, typ)
	if err != nil {
		return err
	}
	return s.runDeviceAction(c, d, in)
}

// selfTestInput names the drive by serial and carries where it was last seen (path and smartctl type), which
// the operation checks against the drive's serial before testing.
func (s *Server) selfTestInput(ctx context.Context, d *store.Device, serial, typ string) (activities.DeviceOpInput, error) {
	if typ != smart.SelfTestShort && typ != smart.SelfTestLong {
		return activities.DeviceOpInput{}, invalid(map[string]string{"type": "must be short or long"})
	}
	drive, err := store.GetDrive(ctx, s.pool, d.ID, serial)
	if errors.Is(err, store.ErrNotFound) {
		return activities.DeviceOpInput{}, notFound("drive " + serial + " on device " + d.Name)
	}
	if err != nil {
		return activities.DeviceOpInput{}, err
	}
	if drive.ReadAt == nil {
		return activities.DeviceOpInput{}, errorf(http.StatusConflict, "drive_unread",
			fmt.Sprintf("drive %s has never been read (%s): it cannot be self-tested", serial, drive.State))
	}
	params := map[string]string{"path": drive.DevicePath}
	if drive.Type != "" {
		params["type"] = drive.Type
	}
	return activities.DeviceOpInput{Kind: activities.OpKindSMARTSelfTest, Target: serial, Action: typ, Params: params}, nil
}

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
		return nil, readOnlyDevice(d)
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
		return nil, readOnlyDevice(d)
	}
	if args.Type == "" {
		args.Type = smart.SelfTestShort
	}
	in, err := e.s.selfTestInput(ctx, d, args.Serial, args.Type)
	if err != nil {
		return nil, err
	}
	return e.runDeviceOperation(ctx, call, d, in, mcpWait(args.WaitSeconds))
}
