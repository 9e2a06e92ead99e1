package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestInventoryEndToEnd runs the product's own collectors and operation kinds (#13) on the whole stack against a
// real sshd behind the device wrapper, logged in as root: the real apt-get reads a local file: repository built
// with dpkg-deb (APT_CONFIG through sshd's SetEnv), virsh is libvirt's test driver with state kept between
// processes, ip -j is this host's. It checks the stored updates (security first), VMs and interfaces through
// REST; a VM shutdown that times out and is destroyed, the autostart alert that follows and resolves; and a
// package-list refresh that brings a package newly published in the repository into the counts.
func TestInventoryEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the repository's lists are fetched as root and the device logs in as root")
	}
	repo := []testenv.DebPackage{{Name: "hello-infra", Version: "1.1-1", Suite: "stable"},
		{Name: "libinfra1", Version: "2.0-2", Suite: "stable-security"}}
	installed := map[string]string{"hello-infra": "1.0-1", "libinfra1": "2.0-1", "infra-tool": "1.0-1"}
	conf := testenv.SharedAptRepo(t, repo, installed)
	bin, state := testenv.PersistentVirsh(t, testenv.FakeVM{Name: "web01", Running: true, Autostart: true, Stubborn: true},
		testenv.FakeVM{Name: "db01"})
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{User: "root", Wrapper: true,
		ExtraConfig: []string{"SetEnv APT_CONFIG=" + conf + " PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin"}})
	s := startStack(t, []ssh.Signer{sshd.ClientSigner})
	s.onlyRules("vm-autostart-not-running", "security-updates-pending")
	dev := s.createDevice("inventory", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	s.waitStatus(dev.ID, "online", "", 60*time.Second)
	base := "/api/v1/devices/" + dev.ID.String()

	runs := func(c *assert.CollectT) map[string]store.InventoryRun {
		r, err := store.InventoryRuns(context.Background(), s.DB, dev.ID)
		require.NoError(c, err)
		return r
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := runs(c)
		for _, name := range []string{"updates", "vms", "network"} {
			require.Contains(c, r, name)
			require.True(c, r[name].OK, "%s: %s", name, r[name].Error)
		}
	}, 120*time.Second, 250*time.Millisecond, "the first collection runs every collector")

	t.Run("updates, security first", func(t *testing.T) {
		var u struct {
			Manager  string `json:"manager"`
			Total    int    `json:"total"`
			Security int    `json:"security"`
			Updates  []struct {
				Name, Current, Candidate string
				Security                 bool
			} `json:"updates"`
			ListsAge *string `json:"lists_age"`
		}
		require.Equal(t, 200, s.do("GET", base+"/updates", nil, &u))
		require.Equal(t, "apt", u.Manager)
		require.Equal(t, 2, u.Total)
		require.Equal(t, 1, u.Security)
		require.Equal(t, "libinfra1", u.Updates[0].Name)
		require.True(t, u.Updates[0].Security)
		require.Equal(t, "2.0-1", u.Updates[0].Current)
		require.NotNil(t, u.ListsAge)
		var fleet struct {
			Items []struct {
				DeviceName string `json:"device_name"`
			} `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/updates?security=true", nil, &fleet))
		require.Len(t, fleet.Items, 1)
	})

	t.Run("interfaces", func(t *testing.T) {
		var n struct {
			Interfaces []struct{ Name string } `json:"interfaces"`
		}
		require.Equal(t, 200, s.do("GET", base+"/network", nil, &n))
		var names []string
		for _, it := range n.Interfaces {
			names = append(names, it.Name)
		}
		require.Contains(t, names, "lo")
	})

	t.Run("vm shutdown times out and is destroyed; the autostart alert fires and resolves", func(t *testing.T) {
		var vms struct {
			Available bool `json:"available"`
			Items     []struct {
				Name, State string
				Autostart   bool
			} `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", base+"/vms", nil, &vms))
		require.True(t, vms.Available)
		require.Len(t, vms.Items, 2)
		require.Equal(t, "web01", vms.Items[1].Name)
		require.Equal(t, "running", vms.Items[1].State)

		var raw map[string]any
		code := s.do("POST", base+"/vms/web01/actions", map[string]any{"action": "shutdown", "timeout": 2, "destroy_after": true}, &raw)
		require.Equal(t, 202, code, "%v", raw)
		op := s.waitDeviceOp(uuid.MustParse(raw["id"].(string)))
		require.Equal(t, store.OpSucceeded, op.State, op.Error)
		require.Equal(t, "vm", op.Kind)
		require.Contains(t, op.Result.Summary, "did not power off within 2s and was destroyed")
		require.Equal(t, "5", testenv.VirshState(t, state, "web01"))

		// Validation names the field; a VM the device does not have fails the operation without acting.
		require.Equal(t, 422, s.do("POST", base+"/vms/web01/actions", map[string]any{"action": "undefine"}, &raw))
		require.Contains(t, raw["error"].(map[string]any)["fields"], "action")
		require.Equal(t, 202, s.do("POST", base+"/vms/ghost/actions", map[string]any{"action": "start"}, &raw))
		op = s.waitDeviceOp(uuid.MustParse(raw["id"].(string)))
		require.Equal(t, store.OpFailed, op.State)
		require.Contains(t, op.Error, "no VM ghost")

		require.Equal(t, 200, s.do("POST", base+"/poll", nil, nil))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var firing []string
			for _, a := range s.alerts("?state=firing") {
				firing = append(firing, a.Rule+"/"+a.Subject)
			}
			require.Contains(c, firing, "vm-autostart-not-running/web01")
		}, 90*time.Second, 500*time.Millisecond)
		var ev struct {
			Items []struct{ Message string } `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/events?kind=vm.state&device_id="+dev.ID.String(), nil, &ev))
		require.NotEmpty(t, ev.Items)
		require.Contains(t, ev.Items[0].Message, "web01 running → shut off")

		require.Equal(t, 200, s.do("POST", base+"/vms/web01/actions?wait=60s", map[string]any{"action": "start"}, &raw), "finished within the wait: %v", raw)
		op = s.waitDeviceOp(uuid.MustParse(raw["id"].(string)))
		require.Equal(t, store.OpSucceeded, op.State, op.Error)
		require.Equal(t, 200, s.do("POST", base+"/poll", nil, nil))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			for _, a := range s.alerts("?state=firing") {
				require.NotEqual(c, "vm-autostart-not-running", a.Rule, "still firing for %s", a.Subject)
			}
		}, 90*time.Second, 500*time.Millisecond)
	})

	t.Run("package-list refresh", func(t *testing.T) {
		// A new version is published; the cached lists do not know it until the explicit refresh.
		repo = append(repo, testenv.DebPackage{Name: "infra-tool", Version: "1.2-1", Suite: "stable"})
		testenv.BuildAptRepo(t, aptDir(t, conf), repo, installed)
		var raw map[string]any
		require.Equal(t, 202, s.do("POST", base+"/package-lists/refresh", nil, &raw), "%v", raw)
		op := s.waitDeviceOp(uuid.MustParse(raw["id"].(string)))
		require.Equal(t, store.OpSucceeded, op.State, op.Error)
		require.Contains(t, op.Result.Summary, "apt: 3 updates (1 security)")
		var u struct {
			Total int `json:"total"`
		}
		require.Equal(t, 200, s.do("GET", base+"/updates", nil, &u))
		require.Equal(t, 3, u.Total, "the refresh stored the new check")
		var audit struct {
			Items []struct{ Action string } `json:"items"`
		}
		require.Equal(t, 200, s.do("GET", "/api/v1/audit?action=package_lists.refresh", nil, &audit))
		require.NotEmpty(t, audit.Items)
	})
}

// aptDir is the repository directory of an apt.conf written by BuildAptRepo.
func aptDir(t *testing.T, conf string) string {
	t.Helper()
	dir := conf[:len(conf)-len("/apt.conf")]
	_, err := os.Stat(dir + "/repo")
	require.NoError(t, err, fmt.Sprintf("%s is not a repository built by BuildAptRepo", dir))
	return dir
}
