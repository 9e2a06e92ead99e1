package deps

import (
	"sort"

	"github.com/infrastructor/infrastructor/internal/netinfo"
)

// HostInput is what the topology needs of one device; any part may be nil when it was not collected.
type HostInput struct {
	Device         string
	Host           *netinfo.Host
	DockerNetworks []netinfo.DockerNetwork
	Containers     []Container
}

// SharedSubnet is a subnet in which several devices have an address.
type SharedSubnet struct {
	Subnet  string   `json:"subnet"`
	Devices []string `json:"devices"`
}

// NetworkMembers is one Docker network of one device with the containers on it.
type NetworkMembers struct {
	Device     string   `json:"device"`
	Network    string   `json:"network"`
	Driver     string   `json:"driver"`
	Subnets    []string `json:"subnets"`
	Containers []string `json:"containers"`
}

// PublishedPort is a container port published on a device.
type PublishedPort struct {
	Device        string `json:"device"`
	Container     string `json:"container"`
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// Topology answers get_network_topology for a device or a fleet.
type Topology struct {
	// SharedSubnets lists the subnets with addresses on at least two devices (what connects them), and
	// Subnets every device's subnets.
	SharedSubnets  []SharedSubnet      `json:"shared_subnets"`
	Subnets        map[string][]string `json:"subnets"`
	DockerNetworks []NetworkMembers    `json:"docker_networks"`
	PublishedPorts []PublishedPort     `json:"published_ports"`
}

// BuildTopology summarises hosts. A device's own Docker network subnets are left out of its host subnets: every
// Docker host has 172.17.0.0/16 on docker0, which connects nothing between devices.
func BuildTopology(hosts []HostInput) *Topology {
	t := &Topology{SharedSubnets: []SharedSubnet{}, Subnets: map[string][]string{}, DockerNetworks: []NetworkMembers{}, PublishedPorts: []PublishedPort{}}
	where := map[string][]string{}
	for _, h := range hosts {
		dockerSubnets := map[string]bool{}
		for _, n := range h.DockerNetworks {
			m := NetworkMembers{Device: h.Device, Network: n.Name, Driver: n.Driver, Subnets: []string{}, Containers: []string{}}
			for _, s := range n.Subnets {
				if p := netinfo.SubnetOf(s.Subnet); p != "" {
					dockerSubnets[p] = true
					m.Subnets = append(m.Subnets, p)
				}
			}
			for _, c := range n.Containers {
				m.Containers = append(m.Containers, c.Name)
			}
			t.DockerNetworks = append(t.DockerNetworks, m)
		}
		if h.Host != nil {
			subs := []string{}
			for _, s := range h.Host.Subnets() {
				if dockerSubnets[s] {
					continue
				}
				subs = append(subs, s)
				where[s] = append(where[s], h.Device)
			}
			t.Subnets[h.Device] = subs
		}
		for _, c := range h.Containers {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				t.PublishedPorts = append(t.PublishedPorts, PublishedPort{Device: h.Device, Container: c.Name, HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
			}
		}
	}
	for s, devs := range where {
		if len(devs) > 1 {
			sort.Strings(devs)
			t.SharedSubnets = append(t.SharedSubnets, SharedSubnet{Subnet: s, Devices: devs})
		}
	}
	sort.Slice(t.SharedSubnets, func(i, j int) bool { return t.SharedSubnets[i].Subnet < t.SharedSubnets[j].Subnet })
	sort.SliceStable(t.DockerNetworks, func(i, j int) bool {
		a, b := t.DockerNetworks[i], t.DockerNetworks[j]
		if a.Device != b.Device {
			return a.Device < b.Device
		}
		return a.Network < b.Network
	})
	sort.SliceStable(t.PublishedPorts, func(i, j int) bool {
		a, b := t.PublishedPorts[i], t.PublishedPorts[j]
		if a.Device != b.Device {
			return a.Device < b.Device
		}
		if a.HostPort != b.HostPort {
			return a.HostPort < b.HostPort
		}
		return a.Protocol < b.Protocol
	})
	return t
}
