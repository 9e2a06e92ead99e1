package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/internal/storagefake"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

type driveView struct {
	Serial  string   `json:"serial"`
	Path    string   `json:"device_path"`
	State   string   `json:"state"`
	Health  string   `json:"health"`
	Reasons []string `json:"reasons"`
}

type poolView struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	Health  string   `json:"health"`
	Reasons []string `json:"reasons"`
}

// storageFixtures loads recorded outputs from the shared fixtures.
func storageFixture(t *testing.T, sub, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.FixturesDir(t), sub, name))
	require.NoError(t, err)
	return string(b)
}

// neptune is the recorded pool with a scrub in progress (input-04), and the same pool before (a scrub finished
// long ago) and after (the scrub finished).
func neptune(t *testing.T) (before, scrubbing, after string) {
	scrubbing = storageFixture(t, "zfs", "zpool-status-exporter__zpool-status.input-04-scrub-progress.txt")
	scrubbing = scrubbing[strings.IndexByte(scrubbing, '\n')+1:]
	lines := strings.Split(scrubbing, "\n")
	var scanStart, scanEnd int
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "scan:") {
			scanStart, scanEnd = i, i+3
		}
	}
	with := func(scan string) string {
		out := append(append(append([]string{}, lines[:scanStart]...), scan), lines[scanEnd:]...)
		return strings.Join(out, "\n")
	}
	before = with("  scan: scrub repaired 0B in 00:10:00 with 0 errors on Sun Feb  4 12:00:00 2024")
	after = with("  scan: scrub repaired 0B in 00:35:40 with 0 errors on Sun Feb 11 12:30:00 2024")
	return before, scrubbing, after
}

// TestDrivesAndPools runs the slow-cadence drive and ZFS collection over real SSH against a device whose smartctl,
// zpool and zfs print recorded outputs (a drive with pending sectors, a failing NVMe drive, a degraded pool, a
// scrub that runs and finishes), and checks the verdicts through REST, MCP and the alerts; then scrubs a pool as a
// durable operation (a second scrub is refused with 409) and lists snapshots page by page.
func TestDrivesAndPools(t *testing.T) {
	dir, err := os.MkdirTemp("", "infra-storage-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	fake := storagefake.Install(t, dir)

	ata := storageFixture(t, "smartctl", "scrutiny__smart-ata.json")
	fake.Set("scan.json", `{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[
		{"name":"/dev/sda","info_name":"/dev/sda [SAT]","type":"sat","protocol":"ATA"},
		{"name":"/dev/nvme0","info_name":"/dev/nvme0","type":"nvme","protocol":"NVMe"},
		{"name":"/dev/sdb","info_name":"/dev/sdb [SAT]","type":"sat","protocol":"ATA"}]}`)
	fake.SetDrive("/dev/sda", storagefake.WithATARaw(t, ata, 197, 8), 0)
	fake.SetDrive("/dev/nvme0", storageFixture(t, "smartctl", "smartctl_exporter__nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"), 8)
	fake.SetDrive("/dev/sdb", storageFixture(t, "smartctl", "scrutiny__smart-ata-full.json"), 0)
	degraded := storageFixture(t, "zfs", "zpool-status-exporter__zpool-status.input-01-corrupted.txt")
	degraded = degraded[strings.IndexByte(degraded, '\n')+1:]
	before, scrubbing, after := neptune(t)
	fake.SetPools(degraded+"\n"+before, degraded+"\n"+scrubbing, degraded+"\n"+after,
		"dummy\t1000\t500\t500\t5\t50\t1.00\tDEGRADED\nneptune\t1825189302108\t1551410906792\t273778395316\t10\t85\t1.00\tONLINE\n")
	fake.Set("datasets.txt", "neptune\t1551410906792\t273778395316\t98304\t1.00\t/neptune\n"+
		"zpool/vol/0\t100\t200\t300\t1.00\t-\nzpool/vol1\t100\t200\t300\t1.50\t/zpool/vol1\n")
	fake.Set("snapshots.txt", storageFixture(t, "zfs", "textfile-scripts__zfs_list_-p_-H_-t_snapshot_-o_name_used_creation"))

	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv PATH=" + fake.Bin + ":/usr/local/bin:/usr/bin:/bin"}})
	s := startStack(t, []ssh.Signer{sshd.ClientSigner}, teststack.WithOpKinds(
		activities.ZFSScrubKind{Poll: 300 * time.Millisecond}, activities.SMARTSelfTestKind{Poll: 300 * time.Millisecond}))
	s.onlyRules("drive-failing", "drive-warning", "pool-not-online", "pool-capacity", "pool-errors", "pool-scrub-age")
	dev := s.createDevice("nas", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	s.waitStatus(dev.ID, "online", "", 60*time.Second)
	devPath := "/api/v1/devices/" + dev.ID.String()

	var runs map[string]store.InventoryRun
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs, err = store.InventoryRuns(context.Background(), s.DB, dev.ID)
		require.NoError(c, err)
		require.Contains(c, runs, "drives")
		require.Contains(c, runs, "zfs")
	}, 90*time.Second, 250*time.Millisecond)
	require.True(t, runs["drives"].OK, runs["drives"].Error)
	require.True(t, runs["zfs"].OK, runs["zfs"].Error)
	require.Equal(t, "3 drives (1 failing, 1 warning)", runs["drives"].Summary)
	require.Equal(t, "2 pools (dummy DEGRADED)", runs["zfs"].Summary)

	var sdaSerial, nvmeSerial string
	t.Run("drives over REST", func(t *testing.T) {
		var out struct {
			Drives []driveView    `json:"drives"`
			Counts map[string]int `json:"counts"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/drives?device_id="+dev.ID.String(), nil, &out))
		require.Len(t, out.Drives, 3)
		require.Equal(t, map[string]int{"failing": 1, "warning": 1, "ok": 1}, out.Counts)
		require.Equal(t, "failing", out.Drives[0].Health, "worst first")
		require.Equal(t, "/dev/nvme0", out.Drives[0].Path)
		nvmeSerial = out.Drives[0].Serial
		require.Equal(t, "/dev/sda", out.Drives[1].Path)
		sdaSerial = out.Drives[1].Serial
		require.Equal(t, "warning", out.Drives[1].Health, "PASSED but with pending sectors is not ok")
		require.Contains(t, strings.Join(out.Drives[1].Reasons, "|"), "8 pending sectors")

		var one struct {
			Drive   driveView           `json:"drive"`
			History []store.DriveSample `json:"history"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/drives/"+url.PathEscape(sdaSerial), nil, &one))
		require.Equal(t, "warning", one.Drive.Health)
		require.NotEmpty(t, one.History)
		require.Equal(t, int64(8), *one.History[len(one.History)-1].Pending)
		require.Equal(t, 404, s.do("GET", devPath+"/drives/NOPE", nil, nil))
		var bad map[string]any
		require.Equal(t, 422, s.do("GET", "/api/v1/drives?health=dying", nil, &bad))
		require.Contains(t, fmt.Sprint(bad), "health")

		var series struct {
			Series []struct {
				Label  string `json:"label"`
				Points []any  `json:"points"`
			} `json:"series"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/metrics?metric=drive_temperature&from=1h", nil, &series))
		require.NotEmpty(t, series.Series)
	})

	t.Run("pools over REST", func(t *testing.T) {
		var out struct {
			Pools      []poolView          `json:"pools"`
			Collection *store.InventoryRun `json:"collection"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/zfs/pools", nil, &out))
		require.Len(t, out.Pools, 2)
		require.Equal(t, "dummy", out.Pools[0].Name)
		require.Equal(t, "DEGRADED", out.Pools[0].State)
		require.Equal(t, "failing", out.Pools[0].Health)
		require.NotNil(t, out.Collection)
		var one struct {
			Pool struct {
				poolView
				Status struct {
					Root struct {
						Children []struct {
							Name  string `json:"name"`
							State string `json:"state"`
						} `json:"children"`
					} `json:"root"`
				} `json:"status"`
			} `json:"pool"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/zfs/pools/dummy", nil, &one))
		require.Len(t, one.Pool.Status.Root.Children, 2)
		require.Equal(t, "DEGRADED", one.Pool.Status.Root.Children[1].State)
		var sum struct {
			Storage store.StorageSummary `json:"storage"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/fleet/summary", nil, &sum))
		require.Equal(t, 1, sum.Storage.PoolsByState["DEGRADED"])
		require.Equal(t, 1, sum.Storage.DrivesByHealth["failing"])
		var ds struct {
			Datasets []store.Dataset `json:"datasets"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/zfs/datasets", nil, &ds))
		require.Len(t, ds.Datasets, 3)
		require.Equal(t, int64(2), ds.Datasets[2].SnapshotCount)
	})

	t.Run("alerts and events", func(t *testing.T) {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got := map[string]bool{}
			for _, a := range s.alerts("?state=firing&device_id=" + dev.ID.String()) {
				got[a.Rule+"/"+a.Subject+"/"+a.Severity] = true
			}
			assert.True(c, got["drive-failing/"+nvmeSerial+"/critical"], "%v", got)
			assert.True(c, got["drive-warning/"+sdaSerial+"/warning"], "%v", got)
			assert.True(c, got["pool-not-online/dummy/critical"], "%v", got)
			assert.True(c, got["pool-capacity/neptune/warning"], "%v", got)
			assert.True(c, got["pool-scrub-age/neptune/warning"], "%v", got)
			assert.False(c, got["pool-errors/neptune/critical"], "%v", got)
		}, 30*time.Second, 250*time.Millisecond)
		kinds := strings.Join(s.eventKinds(dev.ID), ",")
		for _, k := range []string{"drive.failing", "drive.warning", "pool.degraded"} {
			require.Contains(t, kinds, k)
		}
	})

	t.Run("a rising counter, live on the storage topic", func(t *testing.T) {
		// Live updates go out as PostgreSQL notifications that every API process relays to its WebSocket clients.
		conn, err := s.DB.Acquire(context.Background())
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(context.Background(), "LISTEN "+store.UpdatesChannel)
		require.NoError(t, err)
		topic := "device." + dev.ID.String() + ".storage"
		fake.SetDrive("/dev/sda", storagefake.WithATARaw(t, ata, 197, 16), 0)
		require.Equal(t, 200, s.do("POST", devPath+"/poll", nil, nil))
		kinds := map[string]bool{}
		wctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for !(kinds["drives"] && kinds["pools"]) {
			n, err := conn.Conn().WaitForNotification(wctx)
			require.NoError(t, err, "live updates on %s so far: %v", topic, kinds)
			var u store.LiveUpdate
			require.NoError(t, json.Unmarshal([]byte(n.Payload), &u))
			if u.Topic == topic {
				var data struct {
					Kind string `json:"kind"`
				}
				require.NoError(t, json.Unmarshal(u.Data, &data))
				kinds[data.Kind] = true
			}
		}
		require.True(t, kinds["drives"] && kinds["pools"], "live updates on %s: %v", topic, kinds)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var one struct {
				Drive driveView `json:"drive"`
			}
			require.Equal(c, 200, s.do("GET", devPath+"/drives/"+url.PathEscape(sdaSerial), nil, &one))
			assert.Contains(c, strings.Join(one.Drive.Reasons, "|"), "rose from 8 to 16")
		}, 60*time.Second, 250*time.Millisecond)
	})

	t.Run("MCP", func(t *testing.T) {
		c, err := mcpclient.NewStreamableHttpClient(s.URL+mcpapi.MCPPath, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + s.Token}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		ctx := context.Background()
		require.NoError(t, c.Start(ctx))
		_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
			ClientInfo: mcp.Implementation{Name: "storage-test", Version: "1"}}})
		require.NoError(t, err)
		callText := func(name string, args map[string]any) string {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = name, args
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			res, err := c.CallTool(cctx, req)
			require.NoError(t, err)
			var parts []string
			for _, ct := range res.Content {
				if tc, ok := mcp.AsTextContent(ct); ok {
					parts = append(parts, tc.Text)
				}
			}
			require.False(t, res.IsError, strings.Join(parts, "\n"))
			return strings.Join(parts, "\n")
		}
		health := callText("get_drive_health", map[string]any{})
		require.Contains(t, health, "1 failing, 1 warning")
		lines := strings.Split(health, "\n")
		require.Contains(t, lines[1], "failing", "worst first")
		require.Contains(t, health, "critical warning")
		require.Contains(t, callText("get_zfs_status", map[string]any{"device": "nas"}), "dummy on nas: DEGRADED")
		integrity := callText("verify_zfs_integrity", map[string]any{"device": "nas"})
		require.Contains(t, integrity, "nas/dummy: DEGRADED")
		require.Contains(t, integrity, "nas/neptune: ONLINE")
		require.Contains(t, integrity, "run a scrub")
		require.Contains(t, callText("fleet_health", map[string]any{}), "drive /dev/nvme0")
	})

	t.Run("scrub as a durable operation", func(t *testing.T) {
		var raw map[string]any
		code := s.do("POST", devPath+"/zfs/pools/neptune/actions", map[string]any{"action": "scrub"}, &raw)
		require.Equal(t, 202, code, "%v", raw)
		op := decodeAs[deviceOpView](t, raw)
		code = s.do("POST", devPath+"/zfs/pools/neptune/actions", map[string]any{"action": "scrub"}, &raw)
		require.Equal(t, 409, code, "a second scrub of the same pool: %v", raw)
		o := waitStorageOp(t, s, fake, op.ID)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)
		require.Contains(t, o.Result.Summary, "scrub of neptune finished: 0 errors")
		require.Contains(t, fake.Calls(), "zpool scrub neptune")
		var bad map[string]any
		require.Equal(t, 422, s.do("POST", devPath+"/zfs/pools/neptune/actions", map[string]any{"action": "explode"}, &bad))
		require.Contains(t, fmt.Sprint(bad), "action")
	})

	t.Run("scheduled scrub", func(t *testing.T) {
		// The pool as the manual scrub left it; the scheduled one finishes a day later.
		list := "dummy\t1000\t500\t500\t5\t50\t1.00\tDEGRADED\nneptune\t1825189302108\t1551410906792\t273778395316\t10\t85\t1.00\tONLINE\n"
		fake.SetPools(degraded+"\n"+after, degraded+"\n"+scrubbing, degraded+"\n"+strings.Replace(after, "Feb 11", "Feb 12", 1), list)
		var bad map[string]any
		require.Equal(t, 422, s.do("POST", "/api/v1/schedules", map[string]any{"name": "bad-scrub", "spec": map[string]any{"cron": "0 3 1 * *"},
			"action": map[string]any{"type": "zfs_scrub", "device_id": dev.ID.String(), "pool": "no such;pool"}}, &bad))
		require.Contains(t, fmt.Sprint(bad), "action.pool")
		var sch struct {
			ID string `json:"id"`
		}
		require.Equal(t, 201, s.do("POST", "/api/v1/schedules", map[string]any{"name": "monthly-scrub", "spec": map[string]any{"cron": "0 3 1 * *"},
			"action": map[string]any{"type": "zfs_scrub", "device_id": dev.ID.String(), "pool": "neptune"}}, &sch))
		require.Equal(t, 202, s.do("POST", "/api/v1/schedules/"+sch.ID+"/trigger", nil, nil))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			runs := s.scheduleRuns(sch.ID)
			require.NotEmpty(c, runs)
			run := runs[len(runs)-1]
			require.Equal(c, "succeeded", run.State, "%+v", run)
			require.Len(c, run.Result, 1)
			require.Contains(c, run.Result[0].Summary, "scrub of neptune finished")
		}, 90*time.Second, 250*time.Millisecond)
		require.Equal(t, 2, strings.Count(fake.Calls(), "zpool scrub neptune"), "the manual scrub and the scheduled one")
	})

	t.Run("self-tests as durable operations over REST and MCP", func(t *testing.T) {
		fake.SetSelfTest("/dev/sda", storagefake.WithATARaw(t, ata, 197, 16), true)
		var raw map[string]any
		path := devPath + "/drives/" + url.PathEscape(sdaSerial) + "/actions"
		code := s.do("POST", path, map[string]any{"action": "selftest", "type": "short"}, &raw)
		require.Equal(t, 202, code, "%v", raw)
		op := decodeAs[deviceOpView](t, raw)
		code = s.do("POST", path, map[string]any{"action": "selftest", "type": "short"}, &raw)
		require.Equal(t, 409, code, "a second self-test of the same drive: %v", raw)
		o := waitStorageOp(t, s, fake, op.ID)
		require.Equal(t, store.OpSucceeded, o.State, o.Error)
		require.Contains(t, o.Result.Summary, "short self-test of "+sdaSerial+" passed")
		require.Contains(t, fake.Calls(), "smartctl -t short -d sat /dev/sda")
		var bad map[string]any
		require.Equal(t, 422, s.do("POST", path, map[string]any{"action": "selftest", "type": "forever"}, &bad))
		require.Contains(t, fmt.Sprint(bad), "type")

		// A failing test on another drive, started from MCP, ends as a failed operation that says why.
		var drives struct {
			Drives []driveView `json:"drives"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/drives?health=ok", nil, &drives))
		require.Len(t, drives.Drives, 1)
		fake.SetSelfTest("/dev/sdb", storageFixture(t, "smartctl", "scrutiny__smart-ata-full.json"), false)
		c, err := mcpclient.NewStreamableHttpClient(s.URL+mcpapi.MCPPath, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + s.Token}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		ctx := context.Background()
		require.NoError(t, c.Start(ctx))
		_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
			ClientInfo: mcp.Implementation{Name: "storage-test", Version: "1"}}})
		require.NoError(t, err)
		req := mcp.CallToolRequest{}
		req.Params.Name = "run_smart_selftest"
		req.Params.Arguments = map[string]any{"device": "nas", "serial": drives.Drives[0].Serial, "type": "long", "wait_seconds": 60}
		res, err := c.CallTool(ctx, req)
		require.NoError(t, err)
		var text []string
		for _, ct := range res.Content {
			if tc, ok := mcp.AsTextContent(ct); ok {
				text = append(text, tc.Text)
			}
		}
		require.True(t, res.IsError, "%v", text)
		require.Contains(t, strings.Join(text, "\n"), "read failure")
	})

	t.Run("snapshots page by page", func(t *testing.T) {
		var page struct {
			Snapshots  []struct{ Name string } `json:"snapshots"`
			NextCursor string                  `json:"next_cursor"`
		}
		require.Equal(t, 200, s.do("GET", devPath+"/zfs/snapshots?dataset=zpool/vol1&limit=1", nil, &page))
		require.Len(t, page.Snapshots, 1)
		require.NotEmpty(t, page.NextCursor)
		first := page.Snapshots[0].Name
		next := page.NextCursor
		page.Snapshots, page.NextCursor = nil, ""
		require.Equal(t, 200, s.do("GET", devPath+"/zfs/snapshots?dataset=zpool/vol1&limit=1&cursor="+url.QueryEscape(next), nil, &page))
		require.Len(t, page.Snapshots, 1)
		require.NotEqual(t, "", page.Snapshots[0].Name)
		require.Empty(t, page.NextCursor)
		_ = first
		var bad map[string]any
		require.Equal(t, 422, s.do("GET", devPath+"/zfs/snapshots?dataset=zpool/../x", nil, &bad))
	})
}

// waitStorageOp waits for a device operation to finish, on the subtest's t, showing the operation and the
// stand-ins' calls when it does not.
func waitStorageOp(t *testing.T, s *stack, fake *storagefake.Tools, id uuid.UUID) deviceOpView {
	t.Helper()
	return waitStorageOpWithin(t, s, fake, id, 90*time.Second)
}

func waitStorageOpWithin(t *testing.T, s *stack, fake *storagefake.Tools, id uuid.UUID, within time.Duration) deviceOpView {
	t.Helper()
	var o deviceOpView
	ok := assert.Eventually(t, func() bool {
		o = deviceOpView{}
		_, body, err := s.Request(t, "GET", "/api/v1/operations/"+id.String(), nil)
		return err == nil && json.Unmarshal(body, &o) == nil && store.OpFinal(o.State)
	}, within, 100*time.Millisecond)
	if !ok {
		_, body, _ := s.Request(t, "GET", "/api/v1/operations/"+id.String(), nil)
		t.Fatalf("operation did not finish: %s\ncalls:\n%s", body, fake.Calls())
	}
	return o
}
