package devicesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ManifestEntry describes one simulated device to the programs that register it with the product.
type ManifestEntry struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	HostKey     string `json:"host_key"`
	Fingerprint string `json:"fingerprint"`
	Fault       Fault  `json:"fault,omitempty"`
}

// Manifest lists every device with its address and current host key.
func (s *Sim) Manifest() []ManifestEntry {
	out := make([]ManifestEntry, len(s.devices))
	for i, d := range s.devices {
		k := d.HostKey()
		out[i] = ManifestEntry{Index: i, Name: d.Name(), Host: s.cfg.Host, Port: d.Port(),
			HostKey:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))),
			Fingerprint: ssh.FingerprintSHA256(k), Fault: d.Fault()}
	}
	return out
}

// Handler is a small control API for a running simulator, so a test harness can change faults without
// restarting it:
//
//	GET  /devices                                  the manifest (JSON)
//	POST /fault?device=<i>&fault=<name>            set one device's fault ("" heals it)
//	POST /fault?share=<0..1>&fault=<name>          set the fault on a share of the devices
//	POST /rotate?device=<i>                        rotate one device's host key
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Manifest())
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFault(r.URL.Query().Get("fault"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if share := r.URL.Query().Get("share"); share != "" {
			v, err := strconv.ParseFloat(share, 64)
			if err != nil || v < 0 || v > 1 {
				http.Error(w, "share must be between 0 and 1", http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d devices\n", len(s.SetFaultShare(f, v)))
			return
		}
		d, err := s.deviceParam(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d.SetFault(f)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.deviceParam(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d.RotateHostKey()
		fmt.Fprintln(w, ssh.FingerprintSHA256(d.HostKey()))
	})
	return mux
}

func (s *Sim) deviceParam(r *http.Request) (*Device, error) {
	i, err := strconv.Atoi(r.URL.Query().Get("device"))
	if err != nil || i < 0 || i >= len(s.devices) {
		return nil, fmt.Errorf("device must be an index in 0..%d", len(s.devices)-1)
	}
	return s.devices[i], nil
}

// ParseFaultSpec parses "refuse=0.05,slow=0.1" (shares of the fleet) into fault shares.
func ParseFaultSpec(spec string) (map[Fault]float64, error) {
	out := map[Fault]float64{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("fault %q: want name=share", part)
		}
		f, err := ParseFault(name)
		if err != nil || f == FaultNone {
			return nil, fmt.Errorf("fault %q: unknown fault", part)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("fault %q: share must be between 0 and 1", part)
		}
		out[f] = v
	}
	return out, nil
}
