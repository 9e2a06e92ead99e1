package mcpapi

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/virsh"
)

// storeRecordedContainers stores the containers of a recorded `docker inspect` of a compose project on a real
// engine (internal/netinfo/testdata: depends_on labels, a link, network_mode container:, a shared volume) as
// the poll would, through docker.ParseInspect.
func storeRecordedContainers(t *testing.T, db store.DBTX, dev uuid.UUID) []docker.Container {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "netinfo", "testdata", "recorded", "docker-containers-inspect.json"))
	must.NoError(t, err)
	cs, err := docker.ParseInspect(b)
	must.NoError(t, err)
	for _, c := range cs {
		detail, err := json.Marshal(c)
		must.NoError(t, err)
		_, err = db.Exec(context.Background(), `INSERT INTO containers (device_id, container_id, name, image, state, health,
			compose_project, compose_service, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
			dev, c.ID, c.Name, c.Image, string(c.State), string(c.Health), c.ComposeProject, c.ComposeService, detail)
		must.NoError(t, err)
	}
	return cs
}

func TestMCPInventoryTools(t *testing.T) {
	t.Parallel()
	h := newMCPHarness(t, store.ScopeRead)
	ctx := context.Background()
	a, b := h.device(t, "apt-box"), h.device(t, "quiet-box")
	now := time.Now().UTC().Truncate(time.Second)
	since := now.Add(-72 * time.Hour)
	age := 3 * time.Hour
	must.NoError(t, store.SaveUpdates(ctx, h.pool, &store.DeviceUpdates{DeviceID: a.ID, Manager: "apt", Total: 2, Security: 1,
		SecurityKnown: true, Reboot: "required", CheckedAt: now, ListsAge: &age, SecuritySince: &since, RebootSince: &since,
		Updates: []pkgupdate.Update{{Name: "libssl3", Current: "3.0.1", Candidate: "3.0.2", Security: true}, {Name: "vim", Current: "9.0", Candidate: "9.1"}}}))
	must.NoError(t, store.SaveUpdates(ctx, h.pool, &store.DeviceUpdates{DeviceID: b.ID, Manager: "pacman", Total: 5,
		Reboot: "not-required", CheckedAt: now}))

	t.Run("check_updates fleet, security first", func(t *testing.T) {
		res, text := h.call(t, "check_updates", nil)
		must.False(t, res.IsError, text)
		must.Contains(t, text, "1 devices have pending security updates (1 in all), 2 have updates, 1 need a reboot.")
		must.Regexp(t, `(?s)apt-box.*quiet-box`, text)
		must.Contains(t, text, "security unknown for pacman")
	})
	t.Run("check_updates device", func(t *testing.T) {
		res, text := h.call(t, "check_updates", map[string]any{"device": "apt-box", "security_only": true})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "libssl3 3.0.1 -> 3.0.2 [security]")
		must.NotContains(t, text, "vim")
		must.Contains(t, text, "package lists 3h0m0s old")
		c := h.device(t, "never-checked")
		res, text = h.call(t, "check_updates", map[string]any{"device": c.Name})
		must.True(t, res.IsError)
		must.Contains(t, text, "not been checked yet")
	})

	t.Run("get_vm_status", func(t *testing.T) {
		must.NoError(t, store.SaveVMHost(ctx, h.pool, &store.VMHost{DeviceID: a.ID, Available: true, CollectedAt: now}))
		must.NoError(t, store.ReplaceVMs(ctx, h.pool, a.ID, []store.VM{
			{Name: "web01", State: "shut off", Autostart: true, VCPUs: 2, MaxMemoryKiB: 2 << 20, StateSince: now, CollectedAt: now,
				Disks: []virsh.Disk{}, Interfaces: []virsh.Interface{}},
			{Name: "db01", State: "running", VCPUs: 4, StateSince: now, CollectedAt: now},
		}))
		res, text := h.call(t, "get_vm_status", map[string]any{"device": "apt-box"})
		must.False(t, res.IsError, text)
		must.Equal(t, 2, count(t, res))
		must.Contains(t, text, "web01 on apt-box: shut off")
		must.Contains(t, text, "autostart BUT NOT RUNNING")
		res, text = h.call(t, "get_vm_status", map[string]any{"device": "quiet-box"})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "not been collected yet")
		res, _ = h.call(t, "get_vm_status", map[string]any{"vm": "nope"})
		must.True(t, res.IsError)
	})

	t.Run("fleet_health counts them", func(t *testing.T) {
		res, text := h.call(t, "fleet_health", nil)
		must.False(t, res.IsError, text)
		must.Contains(t, text, "Pending security updates: 1 on 1 devices: [apt-box (1)]")
		must.Contains(t, text, "Reboot required: 1 devices: [apt-box]")
		must.Contains(t, text, "Autostart VMs not running: 1: [apt-box/web01 (shut off)]")
		m, ok := res.StructuredContent.(map[string]any)
		must.True(t, ok)
		must.Contains(t, m, "inventory")
		must.Contains(t, m, "devices", "the health report's own fields stay at the top level")
	})

	t.Run("networks and topology", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "netinfo", "testdata", "recorded", "docker-network-inspect.json"))
		must.NoError(t, err)
		nets, _, err := netinfo.ParseDockerNetworks(raw)
		must.NoError(t, err)
		lan := []netinfo.Interface{{Name: "eth0", MTU: 1500, OperState: "UP", Up: true,
			Addresses: []netinfo.Address{{Family: "inet", CIDR: "192.168.50.10/24"}}}}
		lan2 := []netinfo.Interface{{Name: "eth0", MTU: 1500, OperState: "UP", Up: true,
			Addresses: []netinfo.Address{{Family: "inet", CIDR: "192.168.50.11/24"}}}}
		must.NoError(t, store.SaveNetwork(ctx, h.pool, &store.DeviceNetwork{DeviceID: a.ID, Interfaces: lan, DockerNetworks: nets, CollectedAt: now}))
		must.NoError(t, store.SaveNetwork(ctx, h.pool, &store.DeviceNetwork{DeviceID: b.ID, Interfaces: lan2, CollectedAt: now}))
		storeRecordedContainers(t, h.pool, a.ID)

		res, text := h.call(t, "list_docker_networks", map[string]any{"device": "apt-box"})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "demo_front (bridge) 172.30.1.0/24, compose project demo: demo-app-1")
		res, text = h.call(t, "list_docker_networks", map[string]any{"device": "quiet-box"})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "no Docker networks")

		res, text = h.call(t, "get_network_topology", nil)
		must.False(t, res.IsError, text)
		must.Contains(t, text, "Subnet 192.168.50.0/24 connects apt-box, quiet-box")
		must.Contains(t, text, "Docker network demo_back on apt-box")
		must.Regexp(t, `Port 127\.0\.0\.1:\d+/tcp on apt-box -> demo-app-1:80`, text)
	})

	t.Run("get_service_dependencies", func(t *testing.T) {
		res, text := h.call(t, "get_service_dependencies", map[string]any{"device": "apt-box", "container": "demo-app-1"})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "demo-db-1 (depends_on: service db (service_started)) running")
		must.Contains(t, text, "demo-db-1 (link: link as database) running")
		must.Contains(t, text, "demo-sidecar-1 (network_mode: shares its network namespace) running")
		must.Contains(t, text, "demo-db-1 (shared_volume: volume demo_data)")
		res, text = h.call(t, "get_service_dependencies", map[string]any{"device": "apt-box", "container": "ghost"})
		must.True(t, res.IsError)
		must.Contains(t, text, "no container")
	})
}
