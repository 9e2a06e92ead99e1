package netinfo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// DockerNetworksScript returns the sh script (for `sh -s`) printing `docker network inspect` of every network
// as one JSON array (see ParseDockerNetworks). With no networks at all (not even the defaults, e.g. a daemon
// started with --bridge=none and nothing created) it prints "[]".
func DockerNetworksScript() string {
	ls := docker.Join("docker", "network", "ls", "-q", "--no-trunc")
	return "ids=$(" + ls + ") || exit $?\n" +
		"if [ -z \"$ids\" ]; then echo '[]'; exit 0; fi\n" +
		"exec docker network inspect $ids\n"
}

// DockerSubnet is one IPAM pool of a Docker network.
type DockerSubnet struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
}

// Attached is a container on a Docker network.
type Attached struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// IPv4 and IPv6 are the container's addresses on the network with their prefix ("172.18.0.2/16").
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
	MAC  string `json:"mac,omitempty"`
}

// DockerNetwork is one network from docker network inspect.
type DockerNetwork struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Driver     string         `json:"driver"`
	Scope      string         `json:"scope,omitempty"`
	Internal   bool           `json:"internal,omitempty"`
	EnableIPv6 bool           `json:"enable_ipv6,omitempty"`
	Subnets    []DockerSubnet `json:"subnets"`
	Containers []Attached     `json:"containers"`
	// ComposeProject is the com.docker.compose.project label of a network compose created.
	ComposeProject string `json:"compose_project,omitempty"`
	// Truncated is true when containers were dropped at MaxAttached.
	Truncated bool `json:"truncated,omitempty"`
}

type dockerNetworkJSON struct {
	Name       string
	ID         string `json:"Id"`
	Scope      string
	Driver     string
	EnableIPv6 bool
	Internal   bool
	IPAM       struct {
		Config []struct{ Subnet, Gateway string }
	}
	Containers map[string]struct {
		Name                     string
		MacAddress               string
		IPv4Address, IPv6Address string
	}
	Labels map[string]string
}

// ParseDockerNetworks reads `docker network inspect` output (a JSON array). Networks are sorted by name and
// their containers by name.
func ParseDockerNetworks(b []byte) ([]DockerNetwork, bool, error) {
	if err := checkSize(b); err != nil {
		return nil, false, err
	}
	b = bytes.TrimSpace(b)
	var raw []dockerNetworkJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false, fmt.Errorf("docker network inspect: decode: %w", err)
	}
	truncated := false
	out := make([]DockerNetwork, 0, min(len(raw), MaxNetworks))
	for _, r := range raw {
		if len(out) >= MaxNetworks {
			truncated = true
			break
		}
		n := DockerNetwork{
			ID: clip(r.ID, MaxFieldBytes), Name: clip(r.Name, MaxFieldBytes), Driver: clip(r.Driver, MaxFieldBytes),
			Scope: clip(r.Scope, MaxFieldBytes), Internal: r.Internal, EnableIPv6: r.EnableIPv6,
			ComposeProject: clip(r.Labels[docker.LabelComposeProject], MaxFieldBytes),
			Subnets:        []DockerSubnet{}, Containers: []Attached{},
		}
		for _, c := range r.IPAM.Config {
			if len(n.Subnets) >= MaxAddresses {
				n.Truncated = true
				break
			}
			n.Subnets = append(n.Subnets, DockerSubnet{Subnet: clip(c.Subnet, MaxFieldBytes), Gateway: clip(c.Gateway, MaxFieldBytes)})
		}
		for id, c := range r.Containers {
			if len(n.Containers) >= MaxAttached {
				n.Truncated = true
				break
			}
			n.Containers = append(n.Containers, Attached{
				ID: clip(id, MaxFieldBytes), Name: clip(c.Name, MaxFieldBytes), MAC: clip(c.MacAddress, MaxFieldBytes),
				IPv4: clip(c.IPv4Address, MaxFieldBytes), IPv6: clip(c.IPv6Address, MaxFieldBytes),
			})
		}
		// Map order is random: sort so the output (and golden files) are stable.
		sort.Slice(n.Containers, func(i, j int) bool {
			if n.Containers[i].Name != n.Containers[j].Name {
				return n.Containers[i].Name < n.Containers[j].Name
			}
			return n.Containers[i].ID < n.Containers[j].ID
		})
		truncated = truncated || n.Truncated
		out = append(out, n)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated, nil
}

// DockerNetworkSummary is one line of `docker network ls --format '{{json .}}'`.
type DockerNetworkSummary struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Driver string `json:"driver"`
	Scope  string `json:"scope"`
}

// ParseDockerNetworkLS reads `docker network ls --no-trunc --format '{{json .}}'`, one object per line.
func ParseDockerNetworkLS(b []byte) ([]DockerNetworkSummary, bool, error) {
	if err := checkSize(b); err != nil {
		return nil, false, err
	}
	out := []DockerNetworkSummary{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(out) >= MaxNetworks {
			return out, true, nil
		}
		var r struct{ ID, Name, Driver, Scope string }
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, false, fmt.Errorf("docker network ls: decode %q: %w", clip(string(line), 80), err)
		}
		out = append(out, DockerNetworkSummary{ID: clip(r.ID, MaxFieldBytes), Name: clip(r.Name, MaxFieldBytes), Driver: clip(r.Driver, MaxFieldBytes), Scope: clip(r.Scope, MaxFieldBytes)})
	}
	return out, false, nil
}

// SubnetOf returns the network of a "172.18.0.2/16" address ("172.18.0.0/16"), "" when it does not parse.
func SubnetOf(cidr string) string {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return ""
	}
	return p.Masked().String()
}

// DockerNetworksCommand is DockerNetworksScript as one command line, `sh -c '<script>'`, so that a device's
// docker_host prefix (`env DOCKER_HOST=...`, docker.WithDockerHost) applies to the whole script and the device
// wrapper can compare it as a fixed literal.
func DockerNetworksCommand() string { return docker.Join("sh", "-c", DockerNetworksScript()) }
