package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TestInventoryRoutes: the read routes of #13 answer what the collectors stored, 404 before the first
// collection, and 422 naming the field for a bad filter.
func TestInventoryRoutes(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.createDevice("inv-1", nil)
	id := uuid.MustParse(d.ID)
	base := "/api/v1/devices/" + d.ID

	ts.req("GET", base+"/updates", ts.read, nil).requireStatus(t, http.StatusNotFound)
	ts.req("GET", base+"/network", ts.read, nil).requireStatus(t, http.StatusNotFound)
	env := ts.req("GET", "/api/v1/updates?security=maybe", ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, env.Error.Fields, "security")

	now := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, store.SaveUpdates(ctx, ts.pool, &store.DeviceUpdates{DeviceID: id, Manager: "apt", Total: 1, Security: 1,
		SecurityKnown: true, Reboot: "not-required", CheckedAt: now,
		Updates: []pkgupdate.Update{{Name: "openssl", Current: "3.0.1", Candidate: "3.0.2", Security: true}}}))
	var u struct {
		Manager  string             `json:"manager"`
		Security int                `json:"security"`
		Updates  []pkgupdate.Update `json:"updates"`
	}
	ts.req("GET", base+"/updates", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &u)
	require.Equal(t, "apt", u.Manager)
	require.Equal(t, 1, u.Security)
	require.Equal(t, "openssl", u.Updates[0].Name)
	var fleet struct {
		Items  []map[string]any `json:"items"`
		Totals map[string]int   `json:"totals"`
	}
	ts.req("GET", "/api/v1/updates?security=true", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &fleet)
	require.Len(t, fleet.Items, 1)
	require.Equal(t, "inv-1", fleet.Items[0]["device_name"])
	require.Equal(t, 1, fleet.Totals["security_updates"])

	var summary struct {
		Inventory struct {
			SecurityUpdates int      `json:"security_updates"`
			SecurityDevices []string `json:"security_devices"`
		} `json:"inventory"`
	}
	ts.req("GET", "/api/v1/fleet/summary", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &summary)
	require.Equal(t, 1, summary.Inventory.SecurityUpdates)
	require.Equal(t, []string{"inv-1 (1)"}, summary.Inventory.SecurityDevices)

	var vms struct {
		Collected bool             `json:"collected"`
		Items     []map[string]any `json:"items"`
	}
	ts.req("GET", base+"/vms", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &vms)
	require.False(t, vms.Collected)
	require.Empty(t, vms.Items)

	require.NoError(t, store.SaveNetwork(ctx, ts.pool, &store.DeviceNetwork{DeviceID: id, CollectedAt: now,
		Interfaces: []netinfo.Interface{{Name: "eth0", Addresses: []netinfo.Address{{Family: "inet", CIDR: "10.1.2.3/24"}}}}}))
	var n struct {
		Subnets []string `json:"subnets"`
	}
	ts.req("GET", base+"/network", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &n)
	require.Equal(t, []string{"10.1.2.0/24"}, n.Subnets)
	var dn struct {
		Docker bool  `json:"docker"`
		Items  []any `json:"items"`
	}
	ts.req("GET", base+"/docker-networks", ts.read, nil).requireStatus(t, http.StatusOK).into(t, &dn)
	require.False(t, dn.Docker)
	require.NotNil(t, dn.Items)

	ts.req("GET", base+"/containers/web/dependencies", ts.read, nil).requireStatus(t, http.StatusNotFound)
	ts.req("GET", base+"/containers/-bad/dependencies", ts.read, nil).requireStatus(t, http.StatusUnprocessableEntity)
}
