package collector

import (
	"fmt"
	"strings"
)

// OSRelease is the part of os-release(5) the product uses.
type OSRelease struct {
	ID              string `json:"id"`
	IDLike          string `json:"id_like,omitempty"`
	Name            string `json:"name,omitempty"`
	PrettyName      string `json:"pretty_name,omitempty"`
	Version         string `json:"version,omitempty"`
	VersionID       string `json:"version_id,omitempty"`
	VersionCodename string `json:"version_codename,omitempty"`
}

// ParseOSRelease parses /etc/os-release (or /usr/lib/os-release): shell-like
// KEY=VALUE lines whose values may be single- or double-quoted. ID defaults
// to "linux" as os-release(5) specifies. Values are cut to MaxFieldBytes.
func ParseOSRelease(b []byte) (*OSRelease, error) { return parseOSRelease(b, &limiter{}) }

func parseOSRelease(b []byte, lim *limiter) (*OSRelease, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	r := &OSRelease{ID: "linux"}
	dst := map[string]*string{
		"ID": &r.ID, "ID_LIKE": &r.IDLike, "NAME": &r.Name, "PRETTY_NAME": &r.PrettyName,
		"VERSION": &r.Version, "VERSION_ID": &r.VersionID, "VERSION_CODENAME": &r.VersionCodename,
	}
	for _, l := range ls {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("line %q: want KEY=VALUE", l)
		}
		v, err := unquoteShell(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if p, ok := dst[k]; ok {
			*p = lim.clip(v)
		}
	}
	return r, nil
}

// unquoteShell decodes the value quoting os-release(5) allows: none,
// single quotes, or double quotes with backslash escapes.
func unquoteShell(v string) (string, error) {
	if len(v) < 2 {
		if v == `"` || v == "'" {
			return "", fmt.Errorf("unterminated quote in %q", v)
		}
		return v, nil
	}
	switch q := v[0]; q {
	case '\'':
		if v[len(v)-1] != q {
			return "", fmt.Errorf("unterminated quote in %q", v)
		}
		return v[1 : len(v)-1], nil
	case '"':
		if v[len(v)-1] != q {
			return "", fmt.Errorf("unterminated quote in %q", v)
		}
		in := v[1 : len(v)-1]
		var sb strings.Builder
		for i := 0; i < len(in); i++ {
			if in[i] == '\\' && i+1 < len(in) && strings.IndexByte("\"\\`$", in[i+1]) >= 0 {
				i++
			}
			sb.WriteByte(in[i])
		}
		return sb.String(), nil
	}
	return v, nil
}

// Capabilities describes what a device is and what the product can do on
// it. It is refreshed on every poll from the caps and os_release sections
// (plus CPU count and memory from stat and meminfo).
type Capabilities struct {
	OSID         string `json:"os_id"`
	OSLike       string `json:"os_like,omitempty"`
	OSName       string `json:"os_name,omitempty"`
	OSVersion    string `json:"os_version,omitempty"`
	OSPrettyName string `json:"os_pretty_name,omitempty"`
	Kernel       string `json:"kernel,omitempty"`
	Arch         string `json:"arch,omitempty"`
	Hostname     string `json:"hostname,omitempty"`
	// CPUCount is the number of online logical CPUs (cpuN lines of
	// /proc/stat); set by Parse.
	CPUCount int `json:"cpu_count"`
	// CPUModel is cpuinfo's model name, or its Hardware line on ARM
	// boards that have no model name.
	CPUModel string `json:"cpu_model,omitempty"`
	// Board is the device-tree model ("Raspberry Pi 4 Model B Rev 1.4").
	Board string `json:"board,omitempty"`
	// MemoryTotalBytes is MemTotal; set by Parse.
	MemoryTotalBytes uint64 `json:"memory_total_bytes"`
	HasDocker        bool   `json:"has_docker"`
	HasZFS           bool   `json:"has_zfs"`
	HasSmartctl      bool   `json:"has_smartctl"`
	// HasSystemd is true when systemd is the running init (not merely
	// installed).
	HasSystemd bool `json:"has_systemd"`
	// Commands maps each probed command found on the device to its path,
	// for callers that must run it outside the login PATH.
	Commands map[string]string `json:"commands,omitempty"`
}

// ParseCapabilities parses the caps section (KEY=VALUE lines) and merges
// osr, which may be nil. On Unraid, whose os-release (if any) only says
// Slackware, the OS is reported as "unraid" with its own version. Values are
// cut to MaxFieldBytes and Commands holds at most MaxCommands.
func ParseCapabilities(b []byte, osr *OSRelease) (*Capabilities, error) {
	return parseCapabilities(b, osr, &limiter{})
}

func parseCapabilities(b []byte, osr *OSRelease, lim *limiter) (*Capabilities, error) {
	ls := lines(b)
	if len(ls) == 0 && osr == nil {
		return nil, ErrNotAvailable
	}
	c := &Capabilities{OSID: "linux"}
	if osr != nil {
		c.OSID, c.OSLike, c.OSName, c.OSPrettyName = osr.ID, osr.IDLike, osr.Name, osr.PrettyName
		c.OSVersion = osr.VersionID
		if c.OSVersion == "" {
			c.OSVersion = osr.Version
		}
	}
	var hardware, cpuBoard, unraid string
	for _, l := range ls {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("line %q: want KEY=VALUE", l)
		}
		v = lim.clip(strings.TrimSpace(v))
		switch {
		case k == "uname":
			f := strings.Fields(v)
			if len(f) < 3 {
				return nil, fmt.Errorf("uname %q: want system, release, machine", v)
			}
			c.Kernel, c.Arch = f[1], f[len(f)-1]
		case k == "hostname":
			c.Hostname = v
		case strings.HasPrefix(k, "cmd_"):
			if v == "" {
				continue
			}
			if c.Commands == nil {
				c.Commands = make(map[string]string)
			}
			name := lim.clip(k[len("cmd_"):])
			if _, dup := c.Commands[name]; !dup && !lim.room(len(c.Commands), MaxCommands) {
				continue
			}
			c.Commands[name] = v
		case k == "systemd_running":
			c.HasSystemd = v == "1"
		case k == "unraid_version":
			if u, err := unquoteShell(v); err == nil {
				unraid = u
			}
		case k == "board":
			c.Board = v
		case k == "cpu_model":
			if c.CPUModel == "" {
				c.CPUModel = v
			}
		case k == "cpu_hardware":
			hardware = v
		case k == "cpu_board":
			cpuBoard = v
		}
	}
	if c.CPUModel == "" {
		c.CPUModel = hardware
	}
	if c.Board == "" {
		c.Board = cpuBoard
	}
	if unraid != "" {
		if c.OSLike == "" && c.OSID != "linux" {
			c.OSLike = c.OSID
		}
		c.OSID, c.OSName, c.OSVersion, c.OSPrettyName = "unraid", "Unraid", unraid, lim.clip("Unraid "+unraid)
	}
	_, c.HasDocker = c.Commands["docker"]
	_, zpool := c.Commands["zpool"]
	c.HasZFS = zpool
	_, c.HasSmartctl = c.Commands["smartctl"]
	return c, nil
}
