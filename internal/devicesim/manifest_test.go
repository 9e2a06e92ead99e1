package devicesim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestParseFaultSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    map[Fault]float64
		wantErr bool
	}{
		{"", map[Fault]float64{}, false},
		{"refuse=0.05, slow=0.1", map[Fault]float64{FaultRefuse: 0.05, FaultSlow: 0.1}, false},
		{"hang=1,drop=0,hostkey=0.5", map[Fault]float64{FaultHang: 1, FaultDrop: 0, FaultHostKey: 0.5}, false},
		{"melt=0.1", nil, true},
		{"slow", nil, true},
		{"slow=2", nil, true},
		{"slow=-0.1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFaultSpec(tt.spec)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestControlAPI(t *testing.T) {
	f := newFleet(t, Config{Devices: 3}, nil)
	srv := httptest.NewServer(f.sim.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/devices")
	require.NoError(t, err)
	var m []ManifestEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	resp.Body.Close()
	require.Len(t, m, 3)
	for i, e := range m {
		require.Equal(t, f.sim.Device(i).Port(), e.Port)
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(e.HostKey))
		require.NoError(t, err)
		require.Equal(t, ssh.FingerprintSHA256(k), e.Fingerprint)
	}

	tests := []struct {
		path       string
		wantStatus int
		check      func()
	}{
		{"/fault?device=1&fault=slow", 200, func() { require.Equal(t, FaultSlow, f.sim.Device(1).Fault()) }},
		{"/fault?device=1&fault=", 200, func() { require.Equal(t, FaultNone, f.sim.Device(1).Fault()) }},
		{"/fault?share=1&fault=drop", 200, func() { require.Equal(t, FaultDrop, f.sim.Device(2).Fault()) }},
		{"/fault?device=7&fault=slow", 400, nil},
		{"/fault?device=0&fault=melt", 400, nil},
		{"/rotate?device=0", 200, func() { require.NotEqual(t, m[0].Fingerprint, ssh.FingerprintSHA256(f.sim.Device(0).HostKey())) }},
	}
	for _, tt := range tests {
		resp, err := http.Post(srv.URL+tt.path, "", nil)
		require.NoError(t, err, tt.path)
		resp.Body.Close()
		require.Equal(t, tt.wantStatus, resp.StatusCode, tt.path)
		if tt.check != nil {
			tt.check()
		}
	}
}
