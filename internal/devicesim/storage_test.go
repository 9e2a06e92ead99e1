package devicesim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// TestSimulatedDrivesAndPools: over SSH, the simulated devices answer the product's drive and pool commands with
// output its parsers read, and some devices are unwell: pending sectors, a failing drive, a degraded pool.
func TestSimulatedDrivesAndPools(t *testing.T) {
	t.Parallel()
	f := newFleet(t, Config{Devices: 11}, nil)
	health := func(i int, path string) smart.Health {
		cmd, err := smart.ReadCommand(path, "sat", false)
		require.NoError(t, err)
		res, err := f.run(t, f.sim.Device(i), cmd, nil)
		if err != nil && res == nil {
			require.NoError(t, err)
		}
		d, err := smart.ParseDrive(res.Stdout, res.ExitCode)
		require.NoError(t, err)
		return smart.Assess(d, nil).Health
	}
	pool := func(i int) (string, zfs.Health) {
		res, err := f.run(t, f.sim.Device(i), zfs.CollectScript, nil)
		require.NoError(t, err)
		c, err := zfs.ParseCollect(res.Stdout)
		require.NoError(t, err)
		require.Len(t, c.Pools, 1)
		require.Len(t, c.Usage, 1)
		require.Len(t, c.Datasets, 2)
		require.Len(t, c.Snapshots, 1)
		v := zfs.AssessPool(&c.Pools[0], &c.Usage[0], f.clk.Now())
		t.Logf("pool of device %d: %v", i, v.Reasons)
		return c.Pools[0].State, v.Health
	}
	res, err := f.run(t, f.sim.Device(0), smart.ScanCommand(false), nil)
	require.NoError(t, err)
	scan, err := smart.ParseScan(res.Stdout, res.ExitCode)
	require.NoError(t, err)
	require.Len(t, scan.Devices, 2)

	require.Equal(t, smart.HealthOK, health(0, "/dev/sda"))
	require.Equal(t, smart.HealthOK, health(0, "/dev/sdb"))
	require.Equal(t, smart.HealthWarning, health(6, "/dev/sdb"), "pending sectors")
	require.Equal(t, smart.HealthFailing, health(10, "/dev/sda"), "SMART FAILED")
	state, h := pool(0)
	require.Equal(t, "ONLINE", state)
	require.Equal(t, zfs.HealthOK, h)
	state, h = pool(9)
	require.Equal(t, "DEGRADED", state)
	require.Equal(t, zfs.HealthFailing, h)
}
