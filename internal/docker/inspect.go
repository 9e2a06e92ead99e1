package docker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// inspectJSON is the part of a docker inspect object (GET /containers/{id}/json) we read.
type inspectJSON struct {
	ID           string `json:"Id"`
	Created      string
	Name         string
	Image        string
	RestartCount int
	Path         string
	Args         []string
	State        struct {
		Status     string
		Pid        int
		ExitCode   int
		StartedAt  string
		FinishedAt string
		Health     *struct{ Status string }
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIP, HostPort string }
		Networks map[string]struct {
			IPAddress string
			Links     []string
		}
	}
	HostConfig struct {
		NetworkMode string
		Links       []string
	}
	Mounts []struct {
		Type, Name, Source, Destination string
		RW                              bool
	}
}

// ParseInspect parses docker inspect output: a JSON array of container objects, or a single object as the
// Engine API returns it.
func ParseInspect(data []byte) ([]Container, error) {
	cs, err := parseInspect(data)
	return cs, clipError(err)
}

func parseInspect(data []byte) ([]Container, error) {
	data = bytes.TrimSpace(data)
	var raw []inspectJSON
	if len(data) > 0 && data[0] == '{' {
		var one inspectJSON
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("docker inspect: decode: %w", err)
		}
		raw = []inspectJSON{one}
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("docker inspect: decode: %w", err)
	}
	if len(raw) > MaxContainers {
		return nil, fmt.Errorf("docker inspect: %w", tooMany("containers", MaxContainers))
	}
	cs := make([]Container, 0, len(raw))
	for _, r := range raw {
		c, err := fromInspect(r)
		if err != nil {
			return nil, fmt.Errorf("docker inspect %s: %w", r.ID, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func fromInspect(r inspectJSON) (Container, error) {
	if r.ID == "" {
		return Container{}, fmt.Errorf("no Id")
	}
	if err := checkID(r.ID); err != nil {
		return Container{}, err
	}
	c := Container{
		ID:           r.ID,
		Health:       HealthNone,
		ExitCode:     r.State.ExitCode,
		RestartCount: r.RestartCount,
		PID:          r.State.Pid,
	}
	c.Name = c.clip(strings.TrimPrefix(r.Name, "/"))
	c.Image = c.clip(r.Config.Image)
	c.ImageID = c.clip(r.Image)
	c.Command = c.clip(inspectCommand(r.Path, r.Args))
	c.State = State(c.clip(r.State.Status))
	c.Labels = c.boundLabels(r.Config.Labels)
	c.fillNetworkDeps(r)
	if r.State.Health != nil && r.State.Health.Status != "" {
		c.Health = Health(c.clip(r.State.Health.Status))
	}
	var err error
	if c.Created, err = parseEngineTime(r.Created); err != nil {
		return c, fmt.Errorf("Created: %w", err)
	}
	if c.Started, err = parseEngineTime(r.State.StartedAt); err != nil {
		return c, fmt.Errorf("StartedAt: %w", err)
	}
	if c.Finished, err = parseEngineTime(r.State.FinishedAt); err != nil {
		return c, fmt.Errorf("FinishedAt: %w", err)
	}
	// The Engine lists every port of a published range on its own ("8000/tcp", "8001/tcp", ...); they are
	// folded back into ranges as docker ps shows them, so both sources agree and a full-range mapping stays
	// one entry.
	var ports []Port
	for spec, bindings := range r.NetworkSettings.Ports {
		num, proto, _ := strings.Cut(spec, "/")
		cp, err := portNumber(num)
		if err != nil || num == "" {
			return c, fmt.Errorf("port %q: bad port number", clipString(spec, 64))
		}
		if proto == "" {
			proto = "tcp"
		}
		proto = c.clip(proto)
		if len(bindings) == 0 {
			ports = append(ports, Port{ContainerPort: cp, Protocol: proto})
		}
		for _, b := range bindings {
			hp, _ := portNumber(b.HostPort)
			ports = append(ports, Port{HostIP: c.clip(b.HostIP), HostPort: hp, ContainerPort: cp, Protocol: proto})
		}
	}
	c.Ports = foldPortRanges(ports)
	if len(c.Ports) > MaxPortsPerContainer {
		c.Ports = c.Ports[:MaxPortsPerContainer:MaxPortsPerContainer]
		c.noteTruncated(TruncatedPorts)
	}
	for _, m := range r.Mounts {
		if len(c.Mounts) >= MaxMountsPerContainer {
			c.noteTruncated(TruncatedMounts)
			break
		}
		c.Mounts = append(c.Mounts, Mount{Type: c.clip(m.Type), Name: c.clip(m.Name), Source: c.clip(m.Source),
			Destination: c.clip(m.Destination), ReadOnly: !m.RW})
	}
	// Map order is random: when there are too many, keep the first names in sorted order so the result is
	// stable from poll to poll.
	names := make([]string, 0, len(r.NetworkSettings.Networks))
	for name := range r.NetworkSettings.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > MaxNetworksPerContainer {
		names = names[:MaxNetworksPerContainer]
		c.noteTruncated(TruncatedNetworks)
	}
	for _, name := range names {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		c.Networks[c.clip(name)] = c.clip(r.NetworkSettings.Networks[name].IPAddress)
	}
	c.fillCompose()
	return c, nil
}

// inspectCommand joins Path and Args as docker ps shows the command, stopping once it is longer than
// MaxFieldBytes so a huge argument list is not joined only to be cut.
func inspectCommand(path string, args []string) string {
	var b strings.Builder
	b.WriteString(path)
	for _, a := range args {
		if b.Len() > MaxFieldBytes {
			break
		}
		b.WriteByte(' ')
		b.WriteString(clipString(a, MaxFieldBytes+1))
	}
	return strings.TrimSpace(b.String())
}

// boundLabels copies labels within MaxLabelsPerContainer and MaxFieldBytes, keeping the first keys in sorted
// order when there are too many (map order is random).
func (c *Container) boundLabels(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	if len(keys) > MaxLabelsPerContainer {
		sort.Strings(keys)
		keys = keys[:MaxLabelsPerContainer]
		c.noteTruncated(TruncatedLabels)
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[c.clip(k)] = c.clip(labels[k])
	}
	return m
}

// foldPortRanges merges runs of consecutive ports with the same protocol and host IP (and consecutive host
// ports, or none) into ranges, and returns them ordered by container port, protocol, host IP and host port.
func foldPortRanges(ports []Port) []Port {
	if len(ports) == 0 {
		return nil
	}
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		if (a.HostPort == 0) != (b.HostPort == 0) {
			return a.HostPort == 0
		}
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		return a.HostPort < b.HostPort
	})
	out := ports[:1]
	for _, p := range ports[1:] {
		cur := &out[len(out)-1]
		cLast, hLast := cur.last()
		if p.Protocol == cur.Protocol && p.HostIP == cur.HostIP && p.ContainerPort == cLast+1 &&
			((p.HostPort == 0 && cur.HostPort == 0) || (cur.HostPort != 0 && p.HostPort == hLast+1)) {
			cur.ContainerPortEnd = p.ContainerPort
			if p.HostPort != 0 {
				cur.HostPortEnd = p.HostPort
			}
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
	return slices.Clip(out)
}

// maxLinks bounds Container.Links; real containers have a handful at most.
const maxLinks = 64

// fillNetworkDeps keeps what service dependencies need beyond the labels (#13): the container whose network
// namespace this one joins, and legacy links from both places Docker keeps them (HostConfig.Links on the default
// bridge as "/target:/self/alias", NetworkSettings.Networks[n].Links on user networks as "target:alias"),
// normalised to "target:alias".
func (c *Container) fillNetworkDeps(r inspectJSON) {
	if ref, ok := strings.CutPrefix(r.HostConfig.NetworkMode, "container:"); ok {
		c.NetworkContainer = c.clip(ref)
	}
	seen := map[string]bool{}
	add := func(target, alias string) {
		l := c.clip(target + ":" + alias)
		if target == "" || seen[l] || len(c.Links) >= maxLinks {
			return
		}
		seen[l] = true
		c.Links = append(c.Links, l)
	}
	for _, l := range r.HostConfig.Links {
		target, alias, _ := strings.Cut(l, ":")
		add(strings.TrimPrefix(target, "/"), alias[strings.LastIndexByte(alias, '/')+1:])
	}
	nets := make([]string, 0, len(r.NetworkSettings.Networks))
	for n := range r.NetworkSettings.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		for _, l := range r.NetworkSettings.Networks[n].Links {
			target, alias, _ := strings.Cut(l, ":")
			add(target, alias)
		}
	}
}
