// Package deps works out which containers depend on which, from docker inspect data alone: compose depends_on
// labels, network_mode container:X, links, shared volumes and shared networks. It also summarises the network
// topology of a fleet. It is pure: no I/O, inputs are parsed command output.
package deps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Limits on what the analysis returns.
const (
	// MaxContainers is the most containers Analyze accepts; more fail with an error naming the limit.
	MaxContainers = 5000
	// MaxRelations bounds each list of a Dependencies answer; Truncated says when it was cut.
	MaxRelations = 500
	// MaxDependsOn bounds the entries read from one depends_on label.
	MaxDependsOn = 64
	// MaxInputBytes bounds the docker inspect output FromInspect decodes (a few thousand containers); the
	// decoder's memory grows with its input, so larger output is refused before decoding.
	MaxInputBytes = 32 << 20
	maxFieldBytes = 256
)

// LabelDependsOn is the label docker compose (v2.17 and later) puts on containers: the service's depends_on as
// "service:condition:restart" entries joined by ",".
const LabelDependsOn = "com.docker.compose.depends_on"

// Reason says why two containers are related.
type Reason string

// Reasons. The first three are directed (one container needs the other); shared volumes and networks are
// symmetric and reported under Shares.
const (
	ReasonDependsOn     Reason = "depends_on"
	ReasonNetworkMode   Reason = "network_mode"
	ReasonLink          Reason = "link"
	ReasonSharedVolume  Reason = "shared_volume"
	ReasonSharedNetwork Reason = "shared_network"
)

// DependsOn is one entry of a compose depends_on label.
type DependsOn struct {
	Service string `json:"service"`
	// Condition is service_started, service_healthy or service_completed_successfully.
	Condition string `json:"condition,omitempty"`
	// Restart is compose's "restart: true": restart this service when the dependency is updated.
	Restart bool `json:"restart,omitempty"`
}

// ParseDependsOn reads the depends_on label: "db:service_healthy:false,cache:service_started:true". Entries
// without condition (older formats) keep just the service.
func ParseDependsOn(label string) []DependsOn {
	var out []DependsOn
	for _, e := range strings.Split(label, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if len(out) >= MaxDependsOn {
			break
		}
		parts := strings.SplitN(e, ":", 3)
		d := DependsOn{Service: clip(parts[0])}
		if len(parts) > 1 {
			d.Condition = clip(parts[1])
		}
		if len(parts) > 2 {
			d.Restart = parts[2] == "true"
		}
		if d.Service != "" {
			out = append(out, d)
		}
	}
	return out
}

func clip(s string) string {
	if len(s) <= maxFieldBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxFieldBytes], "")
}

// Link is a legacy link: this container reaches Target under Alias.
type Link struct {
	Target string `json:"target"`
	Alias  string `json:"alias,omitempty"`
}

// Container is what the analysis needs of one container: docker.Container plus the fields that package does not
// read (network mode, links).
type Container struct {
	docker.Container
	// NetworkMode is HostConfig.NetworkMode: "bridge", a network name, "host", "none" or "container:<id|name>".
	NetworkMode string      `json:"network_mode,omitempty"`
	Links       []Link      `json:"links,omitempty"`
	DependsOn   []DependsOn `json:"depends_on,omitempty"`
}

type extraJSON struct {
	ID         string `json:"Id"`
	HostConfig struct {
		NetworkMode string
		Links       []string
	}
	NetworkSettings struct {
		Networks map[string]struct{ Links []string }
	}
}

// FromInspect parses docker inspect output (a JSON array of containers) into Containers: docker.ParseInspect for
// the common fields, plus network mode and links from both places Docker keeps them (HostConfig.Links on the
// default bridge, "/target:/self/alias"; NetworkSettings.Networks[n].Links on user networks, "target:alias").
func FromInspect(b []byte) ([]Container, error) {
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("docker inspect: %d bytes, more than %d", len(b), MaxInputBytes)
	}
	if n := bytes.Count(b, []byte(`"Id"`)); n > MaxContainers {
		// A cheap upper bound on the containers before decoding them all.
		return nil, fmt.Errorf("docker inspect: more than %d containers", MaxContainers)
	}
	base, err := docker.ParseInspect(b)
	if err != nil {
		return nil, err
	}
	var extra []extraJSON
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one extraJSON
		err = json.Unmarshal(b, &one)
		extra = []extraJSON{one}
	} else {
		err = json.Unmarshal(b, &extra)
	}
	if err != nil {
		return nil, fmt.Errorf("docker inspect: decode: %w", err)
	}
	if len(extra) != len(base) {
		return nil, fmt.Errorf("docker inspect: %d containers, %d extra records", len(base), len(extra))
	}
	out := make([]Container, len(base))
	for i, c := range base {
		x := extra[i]
		out[i] = Container{Container: c, NetworkMode: clip(x.HostConfig.NetworkMode), DependsOn: ParseDependsOn(c.Labels[LabelDependsOn])}
		seen := map[string]bool{}
		add := func(l Link) {
			if l.Target == "" || seen[l.Target+"\x00"+l.Alias] {
				return
			}
			seen[l.Target+"\x00"+l.Alias] = true
			out[i].Links = append(out[i].Links, l)
		}
		for _, l := range x.HostConfig.Links {
			// "/db:/app/database": target name, then this container's name and the alias.
			target, alias, _ := strings.Cut(l, ":")
			add(Link{Target: clip(strings.TrimPrefix(target, "/")), Alias: clip(alias[strings.LastIndexByte(alias, '/')+1:])})
		}
		nets := make([]string, 0, len(x.NetworkSettings.Networks))
		for n := range x.NetworkSettings.Networks {
			nets = append(nets, n)
		}
		sort.Strings(nets)
		for _, n := range nets {
			for _, l := range x.NetworkSettings.Networks[n].Links {
				target, alias, _ := strings.Cut(l, ":")
				add(Link{Target: clip(target), Alias: clip(alias)})
			}
		}
	}
	return out, nil
}

// Relation is another container related to the one asked about.
type Relation struct {
	Name   string `json:"name"`
	ID     string `json:"id,omitempty"`
	Reason Reason `json:"reason"`
	// Detail says more: the depends_on condition, the volume or bind source, the network, the link alias.
	Detail string        `json:"detail,omitempty"`
	State  docker.State  `json:"state,omitempty"`
	Health docker.Health `json:"health,omitempty"`
	// Unhealthy is true when the related container is not running or its health check fails; Missing when it
	// is named (depends_on, link, network_mode) but no such container exists.
	Unhealthy bool `json:"unhealthy,omitempty"`
	Missing   bool `json:"missing,omitempty"`
}

// Dependencies is the answer for one container.
type Dependencies struct {
	Container string `json:"container"`
	// Needs are containers this one needs; NeededBy those that need it; Shares those it shares a volume, bind
	// source or user network with.
	Needs     []Relation `json:"needs"`
	NeededBy  []Relation `json:"needed_by"`
	Shares    []Relation `json:"shares"`
	Truncated bool       `json:"truncated,omitempty"`
}

// Graph indexes a device's containers for dependency questions.
type Graph struct {
	cs     []Container
	byName map[string]int
	byID   map[string]int
	// bySvc maps project "\x00" service to its containers (several with replicas).
	bySvc map[string][]int
}

// Analyze indexes the containers of one device (one docker engine).
func Analyze(cs []Container) (*Graph, error) {
	if len(cs) > MaxContainers {
		return nil, fmt.Errorf("deps: %d containers, more than %d", len(cs), MaxContainers)
	}
	g := &Graph{cs: cs, byName: map[string]int{}, byID: map[string]int{}, bySvc: map[string][]int{}}
	for i, c := range cs {
		g.byName[c.Name] = i
		g.byID[c.ID] = i
		if c.ComposeProject != "" && c.ComposeService != "" {
			k := c.ComposeProject + "\x00" + c.ComposeService
			g.bySvc[k] = append(g.bySvc[k], i)
		}
	}
	return g, nil
}

// find resolves a name, a full ID or an ID prefix of at least 12 hex digits (unique).
func (g *Graph) find(ref string) (int, bool) {
	ref = strings.TrimPrefix(ref, "/")
	if i, ok := g.byName[ref]; ok {
		return i, true
	}
	if i, ok := g.byID[ref]; ok {
		return i, true
	}
	if len(ref) >= 12 {
		found := -1
		for i, c := range g.cs {
			if strings.HasPrefix(c.ID, ref) {
				if found >= 0 {
					return 0, false
				}
				found = i
			}
		}
		if found >= 0 {
			return found, true
		}
	}
	return 0, false
}

func unhealthy(c *Container) bool {
	return c.State != docker.StateRunning || c.Health == docker.HealthUnhealthy
}

func (g *Graph) relation(i int, reason Reason, detail string) Relation {
	c := &g.cs[i]
	return Relation{Name: c.Name, ID: c.ID, Reason: reason, Detail: detail, State: c.State, Health: c.Health, Unhealthy: unhealthy(c)}
}

// serviceContainers lists the containers of a compose service in a project (several with replicas).
func (g *Graph) serviceContainers(project, service string) []int {
	if project == "" {
		return nil
	}
	return g.bySvc[project+"\x00"+service]
}

// needs returns what container i needs, unresolved names marked Missing.
func (g *Graph) needs(i int) []Relation {
	c := &g.cs[i]
	var out []Relation
	for _, d := range c.DependsOn {
		targets := g.serviceContainers(c.ComposeProject, d.Service)
		detail := "service " + d.Service
		if d.Condition != "" {
			detail += " (" + d.Condition + ")"
		}
		if len(targets) == 0 {
			out = append(out, Relation{Name: d.Service, Reason: ReasonDependsOn, Detail: detail, Missing: true, Unhealthy: true})
		}
		for _, t := range targets {
			out = append(out, g.relation(t, ReasonDependsOn, detail))
		}
	}
	if ref, ok := strings.CutPrefix(c.NetworkMode, "container:"); ok {
		if t, ok := g.find(ref); ok {
			out = append(out, g.relation(t, ReasonNetworkMode, "shares its network namespace"))
		} else {
			out = append(out, Relation{Name: clip(ref), Reason: ReasonNetworkMode, Detail: "shares its network namespace", Missing: true, Unhealthy: true})
		}
	}
	for _, l := range c.Links {
		detail := "link"
		if l.Alias != "" {
			detail = "link as " + l.Alias
		}
		if t, ok := g.find(l.Target); ok {
			out = append(out, g.relation(t, ReasonLink, detail))
		} else {
			out = append(out, Relation{Name: l.Target, Reason: ReasonLink, Detail: detail, Missing: true, Unhealthy: true})
		}
	}
	return out
}

// sharedNetwork reports whether a network counts as a dependency: the default bridge, host and none connect
// containers that never asked to talk to each other, so only user-defined networks do.
func sharedNetwork(name string) bool {
	return name != "bridge" && name != "host" && name != "none" && name != ""
}

// mountKeys are the shareable things a container mounts: named volumes and bind sources.
func mountKeys(c *Container) map[string]string {
	out := map[string]string{}
	for _, m := range c.Mounts {
		switch {
		case m.Type == "volume" && m.Name != "":
			out["volume\x00"+m.Name] = "volume " + m.Name
		case m.Type == "bind" && m.Source != "":
			out["bind\x00"+m.Source] = "bind " + m.Source
		}
	}
	return out
}

// For answers what ref (a name or ID) needs, what needs it, and what it shares.
func (g *Graph) For(ref string) (*Dependencies, error) {
	i, ok := g.find(ref)
	if !ok {
		return nil, fmt.Errorf("deps: no container %q", clip(ref))
	}
	c := &g.cs[i]
	d := &Dependencies{Container: c.Name, Needs: []Relation{}, NeededBy: []Relation{}, Shares: []Relation{}}
	add := func(list *[]Relation, r Relation) {
		if len(*list) >= MaxRelations {
			d.Truncated = true
			return
		}
		*list = append(*list, r)
	}
	for _, r := range g.needs(i) {
		add(&d.Needs, r)
	}
	mine := mountKeys(c)
	for j := range g.cs {
		if j == i {
			continue
		}
		for _, r := range g.needs(j) {
			if !r.Missing && r.ID == c.ID {
				rel := g.relation(j, r.Reason, r.Detail)
				add(&d.NeededBy, rel)
			}
		}
		o := &g.cs[j]
		for k, detail := range mountKeys(o) {
			if _, ok := mine[k]; ok {
				add(&d.Shares, g.relation(j, ReasonSharedVolume, detail))
			}
		}
		for n := range o.Networks {
			if _, ok := c.Networks[n]; ok && sharedNetwork(n) {
				add(&d.Shares, g.relation(j, ReasonSharedNetwork, "network "+n))
			}
		}
	}
	for _, l := range []*[]Relation{&d.Needs, &d.NeededBy, &d.Shares} {
		sort.SliceStable(*l, func(a, b int) bool {
			x, y := (*l)[a], (*l)[b]
			if x.Name != y.Name {
				return x.Name < y.Name
			}
			if x.Reason != y.Reason {
				return x.Reason < y.Reason
			}
			return x.Detail < y.Detail
		})
	}
	return d, nil
}
