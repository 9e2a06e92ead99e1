package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// offerKey records a host key as the poller would on first contact or after a change.
func (ts *testServer) offerKey(id, fingerprint string) {
	ts.t.Helper()
	_, err := store.CheckHostKey(context.Background(), ts.pool, store.OfferedKey{DeviceID: uuid.MustParse(id),
		Role: store.RoleDevice, Fingerprint: fingerprint, KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA"})
	require.NoError(ts.t, err)
}

// Approving a host key must name the fingerprint the administrator compared: a blind approval could trust a key
// that was offered after the list was read, or the wrong one of several (#15).
func TestHostKeyApprovalNamesTheFingerprint(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("keyed", map[string]any{"enabled": false})
	path := "/api/v1/devices/" + d.ID + "/host-key/approve"

	ts.offerKey(d.ID, "SHA256:first")
	for name, body := range map[string]any{"no body": nil, "empty object": map[string]any{}, "empty fingerprint": map[string]any{"fingerprint": ""}} {
		e := ts.req("POST", path, ts.admin, body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, "fingerprint", name)
	}

	// A second key offered meanwhile: approving the first by name still approves exactly that one.
	ts.offerKey(d.ID, "SHA256:second")
	e := ts.req("POST", path, ts.admin, nil).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, e.Error.Fields["fingerprint"], "pending keys: 2")

	// A fingerprint that is not pending is refused and named.
	e = ts.req("POST", path, ts.admin, map[string]any{"fingerprint": "SHA256:never-offered"}).
		requireStatus(t, http.StatusNotFound).envelope(t)
	require.Contains(t, e.Error.Message, "SHA256:never-offered")

	var key store.HostKey
	ts.req("POST", path, ts.admin, map[string]any{"fingerprint": "SHA256:first"}).requireStatus(t, http.StatusOK).into(t, &key)
	require.Equal(t, "SHA256:first", key.Fingerprint)
	require.Equal(t, store.KeyApproved, key.State)

	keys, err := store.ListHostKeys(context.Background(), ts.pool, uuid.MustParse(d.ID))
	require.NoError(t, err)
	states := map[string]string{}
	for _, k := range keys {
		states[k.Fingerprint] = k.State
	}
	require.Equal(t, map[string]string{"SHA256:first": store.KeyApproved, "SHA256:second": store.KeyPending}, states)

	// The store refuses a blind approval too, so no other caller can reintroduce one.
	_, err = store.ApproveHostKey(context.Background(), ts.pool, uuid.MustParse(d.ID), "", "test")
	require.Error(t, err)
}
