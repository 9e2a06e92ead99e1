package pkgupdate

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Manager is the package manager the script found.
type Manager string

// Managers the script knows; ManagerNone when none of them is installed.
const (
	ManagerNone   Manager = "none"
	ManagerApt    Manager = "apt"
	ManagerDnf    Manager = "dnf"
	ManagerYum    Manager = "yum"
	ManagerApk    Manager = "apk"
	ManagerPacman Manager = "pacman"
)

// Reboot says whether the device asks for a reboot.
type Reboot string

// Reboot states. RebootUnknown when the device has no way to tell (no reboot-required file support, no
// needs-restarting) or the section is missing.
const (
	RebootRequired    Reboot = "required"
	RebootNotRequired Reboot = "not-required"
	RebootUnknown     Reboot = "unknown"
)

// Update is one package with a newer candidate version.
type Update struct {
	Name string `json:"name"`
	// Arch is the architecture where the manager reports it (apt, dnf/yum, apk).
	Arch string `json:"arch,omitempty"`
	// Current is the installed version; empty where the manager does not say and no index had it.
	Current   string `json:"current,omitempty"`
	Candidate string `json:"candidate"`
	// Security is true for an update from a security source (apt: an origin whose suite ends in -security;
	// dnf/yum: listed by updateinfo --security).
	Security bool `json:"security"`
	// Origin is where the candidate comes from: apt's "Origin:Version/Suite" list, dnf/yum's repository id.
	Origin string `json:"origin,omitempty"`
}

// Report is what one run of Script found on a device.
type Report struct {
	Manager Manager `json:"manager"`
	// Total and Security count every update seen, also those beyond MaxUpdates.
	Total    int `json:"total"`
	Security int `json:"security"`
	// SecurityKnown is false where the manager cannot tell security updates apart (apk, pacman) or the
	// security query failed; Security is then 0 and means nothing.
	SecurityKnown bool     `json:"security_known"`
	Updates       []Update `json:"updates"`
	// Truncated is true when Updates holds fewer than Total entries.
	Truncated      bool     `json:"truncated,omitempty"`
	Reboot         Reboot   `json:"reboot"`
	RebootPackages []string `json:"reboot_packages,omitempty"`
	// CheckedAt is the device's clock when the script ran.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// ListsUpdatedAt is the newest modification time of the cached package lists, zero when unknown;
	// ListsAge is CheckedAt minus it, both from the device's clock so clock skew does not matter.
	ListsUpdatedAt time.Time     `json:"lists_updated_at,omitzero"`
	ListsAge       time.Duration `json:"lists_age,omitempty"`
	// Failed is true when the update query itself failed; the counts are then not to be trusted.
	Failed bool `json:"failed,omitempty"`
	// Messages are error lines the manager printed (at most MaxMessages).
	Messages []string `json:"messages,omitempty"`
}

type section struct {
	lines [][]byte
	exit  int
	ended bool
}

// split reads the marker lines of Script's output.
func split(out []byte) (vals map[string]string, secs map[string]*section) {
	vals = map[string]string{}
	secs = map[string]*section{}
	var cur *section
	for len(out) > 0 {
		var line []byte
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			line, out = out[:i], out[i+1:]
		} else {
			line, out = out, nil
		}
		line = bytes.TrimRight(line, "\r")
		rest, ok := bytes.CutPrefix(line, []byte(markerPrefix))
		if !ok {
			if cur != nil {
				cur.lines = append(cur.lines, line)
			}
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "begin":
			if _, dup := secs[f[1]]; dup || len(secs) > 16 {
				cur = nil
				continue
			}
			cur = &section{exit: -1}
			secs[f[1]] = cur
		case "end":
			if s := secs[f[1]]; s != nil && s == cur {
				s.ended = true
				if len(f) > 2 {
					if n, err := strconv.Atoi(f[2]); err == nil {
						s.exit = n
					}
				}
			}
			cur = nil
		default:
			if _, dup := vals[f[0]]; !dup && len(vals) < 16 {
				vals[f[0]] = clip(f[1], MaxFieldBytes)
			}
		}
	}
	return vals, secs
}

// Parse reads the output of Script.
func Parse(out []byte) (*Report, error) {
	vals, secs := split(out)
	m, ok := vals["manager"]
	if !ok {
		return nil, ErrNoMarkers
	}
	r := &Report{Manager: Manager(m), Reboot: RebootUnknown, Updates: []Update{}}
	switch r.Manager {
	case ManagerNone, ManagerApt, ManagerDnf, ManagerYum, ManagerApk, ManagerPacman:
	default:
		return nil, fmt.Errorf("pkgupdate: unknown manager %q", clip(m, 64))
	}
	if n, err := strconv.ParseInt(vals["now"], 10, 64); err == nil && n > 0 {
		r.CheckedAt = time.Unix(n, 0).UTC()
	}
	up := secs["upgrade"]
	if r.Manager != ManagerNone && (up == nil || !up.ended) {
		r.Failed = true
		r.addMessage("update query did not finish")
	}
	switch r.Manager {
	case ManagerApt:
		r.SecurityKnown = true
		if up != nil {
			r.parseApt(up)
		}
	case ManagerDnf, ManagerYum:
		if up != nil {
			r.parseDnf(up, secs["security"], secs["installed"])
		}
	case ManagerApk:
		if up != nil {
			r.parseApk(up)
		}
	case ManagerPacman:
		if up != nil {
			r.parsePacman(up)
		}
	}
	r.parseLists(secs["lists"])
	r.parseReboot(secs["reboot"])
	sort.SliceStable(r.Updates, func(i, j int) bool {
		a, b := r.Updates[i], r.Updates[j]
		if a.Security != b.Security {
			return a.Security
		}
		return a.Name < b.Name
	})
	return r, nil
}

func (r *Report) addMessage(s string) {
	if len(r.Messages) < MaxMessages {
		r.Messages = append(r.Messages, clip(strings.TrimSpace(s), MaxMessageBytes))
	}
}

func (r *Report) add(u Update) {
	r.Total++
	if u.Security {
		r.Security++
	}
	if len(r.Updates) >= MaxUpdates {
		r.Truncated = true
		return
	}
	u.Name = clip(u.Name, MaxFieldBytes)
	u.Arch = clip(u.Arch, MaxFieldBytes)
	u.Current = clip(u.Current, MaxFieldBytes)
	u.Candidate = clip(u.Candidate, MaxFieldBytes)
	u.Origin = clip(u.Origin, MaxFieldBytes)
	r.Updates = append(r.Updates, u)
}

// errorLine reports lines package managers print for failures ("E: ...", "Error: ...", "ERROR: ...").
func errorLine(line string) bool {
	return strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "Error") || strings.HasPrefix(line, "ERROR") ||
		strings.HasPrefix(line, "error:")
}

// parseApt reads `apt-get -s dist-upgrade`: one "Inst name [current] (candidate origins [arch])" line per package
// to upgrade or install; a newly installed package has no [current]. origins is "Origin:Version/Suite" joined by
// ", " when several sources carry the version.
func (r *Report) parseApt(s *section) {
	for _, b := range s.lines {
		line := string(b)
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			if errorLine(line) {
				r.addMessage(line)
			}
			continue
		}
		name, rest, _ := strings.Cut(rest, " ")
		if name == "" {
			continue
		}
		u := Update{Name: name}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			u.Current = rest[1:end]
			rest = strings.TrimSpace(rest[end+1:])
		}
		if !strings.HasPrefix(rest, "(") {
			continue
		}
		end := strings.LastIndexByte(rest, ')')
		if end < 0 {
			continue
		}
		inner := rest[1:end]
		cand, origins, _ := strings.Cut(inner, " ")
		u.Candidate = cand
		if i := strings.LastIndex(origins, " ["); i >= 0 && strings.HasSuffix(origins, "]") {
			u.Arch = origins[i+2 : len(origins)-1]
			origins = origins[:i]
		}
		u.Origin = strings.TrimSpace(origins)
		for _, o := range strings.Split(u.Origin, ", ") {
			if _, suite, ok := strings.Cut(o, "/"); ok && strings.Contains(suite, "-security") {
				u.Security = true
			}
		}
		if u.Candidate != "" {
			r.add(u)
		}
	}
	if s.ended && s.exit != 0 {
		r.Failed = true
	}
}

// splitNameArch splits dnf's "name.arch"; the architecture is the part after the last dot.
func splitNameArch(s string) (string, string) {
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// parseDnf reads `check-update` (exit 100: updates listed, 0: none, 1: error), whose lines are
// "name.arch  [epoch:]version-release  repo", stopping at "Obsoleting Packages", then the security advisories
// ("ID  type/Sec.  name-[epoch:]version-release.arch") and the installed versions from rpm -qa.
func (r *Report) parseDnf(up, sec, inst *section) {
	if up.ended && up.exit != 0 && up.exit != 100 {
		r.Failed = true
	}
	security := map[string]bool{}
	if sec != nil && sec.ended && sec.exit == 0 {
		r.SecurityKnown = true
		for _, b := range sec.lines {
			f := strings.Fields(string(b))
			if len(f) < 3 {
				continue
			}
			// dnf4 prints the package last, dnf5 in the middle ("ID type severity package issued"): every
			// field shaped like a NEVRA counts; keys that match no update are harmless.
			for _, nevra := range f[1:] {
				if len(security) < maxSecurity && strings.Count(nevra, "-") >= 2 && strings.Contains(nevra, ".") {
					security[nevraNameArch(nevra)] = true
				}
			}
		}
	}
	installed := map[string]string{}
	if inst != nil {
		for _, b := range inst.lines {
			f := strings.Fields(string(b))
			if len(f) != 2 || len(installed) >= maxInstalled {
				continue
			}
			installed[f[0]] = strings.TrimPrefix(f[1], "0:")
		}
	}
	for _, b := range up.lines {
		line := string(b)
		if strings.HasPrefix(line, "Obsoleting Packages") || strings.HasPrefix(line, "Security:") {
			break
		}
		f := strings.Fields(line)
		if len(f) != 3 || !strings.Contains(f[0], ".") || strings.HasPrefix(line, " ") {
			if errorLine(line) {
				r.addMessage(line)
			}
			continue
		}
		name, arch := splitNameArch(f[0])
		r.add(Update{Name: name, Arch: arch, Candidate: f[1], Origin: f[2], Current: installed[f[0]], Security: security[f[0]]})
	}
}

// nevraNameArch turns "name-[epoch:]version-release.arch" into "name.arch", the key check-update uses.
func nevraNameArch(nevra string) string {
	base, arch := splitNameArch(nevra)
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return nevra
	}
	j := strings.LastIndexByte(base[:i], '-')
	if j <= 0 {
		return nevra
	}
	return base[:j] + "." + arch
}

// splitApkName splits apk's "name-version-rN" at the dash that starts the version: the last dash followed by a
// digit before the "-r" release suffix.
func splitApkName(s string) (string, string) {
	rel := strings.LastIndex(s, "-r")
	if rel <= 0 {
		return s, ""
	}
	i := strings.LastIndexByte(s[:rel], '-')
	if i <= 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// parseApk reads `apk -u list`: "name-ver-rN arch {origin} (license) [upgradable from: name-oldver-rN]".
func (r *Report) parseApk(s *section) {
	if s.ended && s.exit != 0 {
		r.Failed = true
	}
	for _, b := range s.lines {
		line := string(b)
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(line, "upgradable from: ") {
			if errorLine(line) {
				r.addMessage(line)
			}
			continue
		}
		name, cand := splitApkName(f[0])
		u := Update{Name: name, Candidate: cand, Arch: f[1]}
		_, from, _ := strings.Cut(line, "upgradable from: ")
		from = strings.TrimSuffix(strings.TrimSpace(from), "]")
		if n, v := splitApkName(from); n == name {
			u.Current = v
		}
		if o := strings.IndexByte(line, '{'); o >= 0 {
			if e := strings.IndexByte(line[o:], '}'); e > 0 {
				u.Origin = line[o+1 : o+e]
			}
		}
		r.add(u)
	}
}

// parsePacman reads `pacman -Qu` ("name current -> candidate", "[ignored]" appended for held packages). Its
// exit status is 1 both for "nothing to upgrade" and for errors, so only error lines mark a failure.
func (r *Report) parsePacman(s *section) {
	for _, b := range s.lines {
		line := string(b)
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "->" {
			if errorLine(line) {
				r.addMessage(line)
				r.Failed = true
			}
			continue
		}
		r.add(Update{Name: f[0], Current: f[1], Candidate: f[3]})
	}
}

func (r *Report) parseLists(s *section) {
	if s == nil {
		return
	}
	var newest int64
	for _, b := range s.lines {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > newest {
			newest = n
		}
	}
	if newest <= 0 || newest > 1<<40 {
		return
	}
	r.ListsUpdatedAt = time.Unix(newest, 0).UTC()
	if !r.CheckedAt.IsZero() && !r.CheckedAt.Before(r.ListsUpdatedAt) {
		r.ListsAge = r.CheckedAt.Sub(r.ListsUpdatedAt)
	}
}

func (r *Report) parseReboot(s *section) {
	if s == nil {
		return
	}
	for _, b := range s.lines {
		line := string(b)
		switch {
		case line == string(RebootRequired), line == string(RebootNotRequired), line == string(RebootUnknown):
			r.Reboot = Reboot(line)
		case strings.HasPrefix(line, "pkg "):
			if len(r.RebootPackages) < MaxRebootPackages {
				r.RebootPackages = append(r.RebootPackages, clip(strings.TrimSpace(line[4:]), MaxFieldBytes))
			}
		}
	}
}
