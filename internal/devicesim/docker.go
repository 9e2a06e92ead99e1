package devicesim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// containerTemplate is the immutable part of a simulated container, shared by every device.
type containerTemplate struct {
	name, image string
	path        string
	args        []string
	project     string // compose project; "" for none
	service     string
	network     string // network mode: a network name, "host" or "none"
	ports       []string
	health      bool
	memLimit    uint64
	cpuRate     float64 // share of one core it uses while running
	state       docker.State
	exitCode    int
	volume      string
}

// containerTemplates cycle to give each device its configured number of containers: a compose project, plain
// containers, one that exited with an error, one on the host network.
var containerTemplates = []containerTemplate{
	{name: "web", image: "nginx:1.27", path: "/docker-entrypoint.sh", args: []string{"nginx", "-g", "daemon off;"},
		project: "shop", service: "web", network: "shop_default", ports: []string{"80/tcp"}, health: true,
		memLimit: 256 << 20, cpuRate: 0.02, state: docker.StateRunning, volume: "shop_static"},
	{name: "db", image: "postgres:16", path: "docker-entrypoint.sh", args: []string{"postgres"},
		project: "shop", service: "db", network: "shop_default", health: true, memLimit: 1 << 30, cpuRate: 0.05,
		state: docker.StateRunning, volume: "shop_pgdata"},
	{name: "cache", image: "redis:7", path: "docker-entrypoint.sh", args: []string{"redis-server"},
		network: "bridge", ports: []string{"6379/tcp"}, cpuRate: 0.01, state: docker.StateRunning},
	{name: "backup", image: "restic/restic:0.17.1", path: "/usr/bin/restic", args: []string{"backup", "/data"},
		network: "bridge", state: docker.StateExited, exitCode: 3},
	{name: "node-exporter", image: "prom/node-exporter:v1.8.2", path: "/bin/node_exporter",
		network: "host", cpuRate: 0.005, state: docker.StateRunning},
	{name: "jobs", image: "busybox:1.36", path: "sleep", args: []string{"infinity"}, network: "bridge",
		state: docker.StatePaused, cpuRate: 0},
}

// container is one simulated container's mutable state.
type container struct {
	tpl      *containerTemplate
	id       string
	name     string
	created  time.Time
	state    docker.State
	started  time.Time
	finished time.Time
	exitCode int
	pid      int
	restarts int
	ip       string
	removed  bool
}

// dockerHost is a device's container engine.
type dockerHost struct {
	mu         sync.Mutex
	containers []*container
	nextPID    int
}

func newDockerHost(seed string, index, n int, now time.Time) *dockerHost {
	h := &dockerHost{nextPID: 2000 + index%1000}
	for i := 0; i < n; i++ {
		tpl := &containerTemplates[i%len(containerTemplates)]
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/container/%d/%d", seed, index, i)))
		name := tpl.name
		if i >= len(containerTemplates) {
			name = fmt.Sprintf("%s-%d", tpl.name, i/len(containerTemplates)+1)
		}
		if tpl.project != "" {
			name = fmt.Sprintf("%s-%s-%d", tpl.project, tpl.service, i/len(containerTemplates)+1)
		}
		c := &container{tpl: tpl, id: hex.EncodeToString(sum[:]), name: name,
			created: now.Add(-time.Duration(2+i) * 24 * time.Hour).Truncate(time.Second), state: tpl.state,
			exitCode: tpl.exitCode, ip: fmt.Sprintf("172.17.%d.%d", i/250, 2+i%250)}
		switch c.state {
		case docker.StateRunning, docker.StatePaused:
			c.started = c.created.Add(3 * time.Second)
			c.pid = h.newPID()
		case docker.StateExited:
			c.started = c.created.Add(3 * time.Second)
			c.finished = now.Add(-90 * time.Minute)
		}
		h.containers = append(h.containers, c)
	}
	return h
}

func (h *dockerHost) newPID() int {
	h.nextPID += 37
	return h.nextPID
}

// find resolves a reference as docker does: full ID, exact name, then a unique ID prefix.
func (h *dockerHost) find(ref string) (*container, error) {
	var byPrefix []*container
	for _, c := range h.containers {
		if c.removed {
			continue
		}
		if c.id == ref || c.name == ref {
			return c, nil
		}
		if strings.HasPrefix(c.id, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return nil, fmt.Errorf("Error response from daemon: No such container: %s", ref)
	}
	return nil, fmt.Errorf("Error response from daemon: Multiple IDs found with provided prefix: %s", ref)
}

func (h *dockerHost) live() []*container {
	out := make([]*container, 0, len(h.containers))
	for _, c := range h.containers {
		if !c.removed {
			out = append(out, c)
		}
	}
	return out
}

func (c *container) running() bool {
	return c.state == docker.StateRunning || c.state == docker.StatePaused
}

func (h *dockerHost) start(c *container, now time.Time) {
	c.state, c.started, c.pid, c.exitCode = docker.StateRunning, now, h.newPID(), 0
}

func (c *container) stop(now time.Time, exit int) {
	c.state, c.finished, c.pid, c.exitCode = docker.StateExited, now, 0, exit
}

// action applies a container action the way the docker CLI reports it: the reference on stdout when it
// succeeded, the daemon's error on stderr with status 1 when it did not.
func (h *dockerHost) action(verb, ref string, now time.Time, signal int, force bool) ([]byte, []byte, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.find(ref)
	if err != nil {
		return nil, []byte(err.Error() + "\n"), 1
	}
	fail := func(format string, args ...any) ([]byte, []byte, int) {
		return nil, fmt.Appendf(nil, "Error response from daemon: "+format+"\n", args...), 1
	}
	switch verb {
	case "start":
		if c.state == docker.StatePaused {
			return fail("cannot start a paused container, try unpause instead")
		}
		if c.state != docker.StateRunning {
			h.start(c, now)
		}
	case "stop":
		if c.running() {
			c.stop(now, 143) // SIGTERM
		}
	case "restart":
		if c.running() {
			c.stop(now, 143)
		}
		h.start(c, now)
	case "pause":
		if c.state != docker.StateRunning {
			if c.state == docker.StatePaused {
				return fail("Container %s is already paused", c.id)
			}
			return fail("Container %s is not running", c.id)
		}
		c.state = docker.StatePaused
	case "unpause":
		if c.state != docker.StatePaused {
			return fail("Container %s is not paused", c.id)
		}
		c.state = docker.StateRunning
	case "kill":
		if c.state != docker.StateRunning {
			return fail("Cannot kill container: %s: Container %s is not running", ref, c.id)
		}
		c.stop(now, 128+signal)
	case "rm":
		if c.running() && !force {
			return fail("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.id)
		}
		c.removed = true
	}
	return []byte(ref + "\n"), nil, 0
}

// humanDuration renders d the way docker ps does (go-units HumanDuration).
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	default:
		return fmt.Sprintf("%d months", h/24/30)
	}
}

func (c *container) statusText(now time.Time) string {
	switch c.state {
	case docker.StateRunning:
		s := "Up " + humanDuration(now.Sub(c.started))
		if c.tpl.health {
			s += " (healthy)"
		}
		return s
	case docker.StatePaused:
		return "Up " + humanDuration(now.Sub(c.started)) + " (Paused)"
	case docker.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.exitCode, humanDuration(now.Sub(c.finished)))
	}
	return "Created"
}

func (c *container) labels() map[string]string {
	if c.tpl.project == "" {
		return map[string]string{}
	}
	return map[string]string{
		docker.LabelComposeProject:            c.tpl.project,
		docker.LabelComposeService:            c.tpl.service,
		docker.LabelComposeWorkingDir:         "/srv/" + c.tpl.project,
		"com.docker.compose.container-number": "1",
	}
}

func (c *container) quotedCommand() string {
	return strings.TrimSpace(strings.Join(append([]string{c.tpl.path}, c.tpl.args...), " "))
}

// inventory is the output of docker.Inventory(): one `{{json .}}` object per line, fields in docker's order.
func (h *dockerHost) inventory(now time.Time) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b bytes.Buffer
	for _, c := range h.live() {
		lbl := c.labels()
		keys := make([]string, 0, len(lbl))
		for k := range lbl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + lbl[k]
		}
		var ports []string
		if c.running() {
			for i, p := range c.tpl.ports {
				ports = append(ports, fmt.Sprintf("0.0.0.0:%d->%s", 8080+i, p))
			}
		} else {
			ports = c.tpl.ports
		}
		mounts, nvol := "", "0"
		if c.tpl.volume != "" {
			mounts, nvol = c.tpl.volume, "1"
		}
		line := struct {
			Command, CreatedAt, ID, Image, Labels, LocalVolumes, Mounts, Names, Networks string
			Platform                                                                     *string
			Ports, RunningFor, Size, State, Status                                       string
		}{
			Command: strconv.Quote(c.quotedCommand()), CreatedAt: c.created.UTC().Format("2006-01-02 15:04:05 -0700 MST"),
			ID: c.id, Image: c.tpl.image, Labels: strings.Join(pairs, ","), LocalVolumes: nvol, Mounts: mounts,
			Names: c.name, Networks: c.tpl.network, Ports: strings.Join(ports, ", "),
			RunningFor: humanDuration(now.Sub(c.created)) + " ago", Size: "0B (virtual 187MB)",
			State: string(c.state), Status: c.statusText(now),
		}
		raw, _ := json.Marshal(line)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// engineTime formats a time like the Engine API ("0001-01-01T00:00:00Z" for never).
func engineTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// inspect is the output of docker.Inspect(refs...): a JSON array indented like the docker CLI's. An unknown
// reference makes docker print the others, report the missing one on stderr and exit 1.
func (h *dockerHost) inspect(refs []string) ([]byte, []byte, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	type network struct{ IPAddress, Gateway, MacAddress string }
	type binding struct{ HostIp, HostPort string }
	objs := []any{}
	var stderr bytes.Buffer
	for _, ref := range refs {
		c, err := h.find(ref)
		if err != nil {
			fmt.Fprintf(&stderr, "Error: No such container: %s\n", ref)
			continue
		}
		var health any
		if c.tpl.health && c.running() {
			health = map[string]any{"Status": "healthy", "FailingStreak": 0, "Log": []any{}}
		}
		ports := map[string][]binding{}
		for i, p := range c.tpl.ports {
			if c.running() {
				ports[p] = []binding{{"0.0.0.0", strconv.Itoa(8080 + i)}}
			} else {
				ports[p] = nil
			}
		}
		nets := map[string]network{}
		if c.tpl.network != "host" && c.tpl.network != "none" && c.running() {
			nets[c.tpl.network] = network{IPAddress: c.ip, Gateway: "172.17.0.1", MacAddress: "02:42:ac:11:00:02"}
		} else {
			nets[c.tpl.network] = network{}
		}
		mounts := []any{}
		if c.tpl.volume != "" {
			mounts = append(mounts, map[string]any{"Type": "volume", "Name": c.tpl.volume,
				"Source": "/var/lib/docker/volumes/" + c.tpl.volume + "/_data", "Destination": "/data", "Driver": "local",
				"Mode": "z", "RW": true, "Propagation": ""})
		}
		args := c.tpl.args
		if args == nil {
			args = []string{}
		}
		objs = append(objs, map[string]any{
			"Id": c.id, "Created": engineTime(c.created), "Path": c.tpl.path, "Args": args,
			"State": map[string]any{
				"Status": string(c.state), "Running": c.running(), "Paused": c.state == docker.StatePaused,
				"Restarting": false, "OOMKilled": false, "Dead": false, "Pid": c.pid, "ExitCode": c.exitCode,
				"Error": "", "StartedAt": engineTime(c.started), "FinishedAt": engineTime(c.finished), "Health": health,
			},
			"Image":        "sha256:" + c.id[8:] + c.id[:8],
			"Name":         "/" + c.name,
			"RestartCount": c.restarts,
			"Driver":       "overlay2",
			"HostConfig": map[string]any{"NetworkMode": c.tpl.network, "Memory": c.tpl.memLimit,
				"RestartPolicy": map[string]any{"Name": "unless-stopped", "MaximumRetryCount": 0}},
			"Mounts": mounts,
			"Config": map[string]any{"Hostname": c.id[:12], "Image": c.tpl.image, "Labels": c.labels(),
				"Cmd": args, "Entrypoint": []string{c.tpl.path}, "Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
			"NetworkSettings": map[string]any{"Ports": ports, "Networks": nets},
		})
	}
	out, _ := json.MarshalIndent(objs, "", "    ")
	out = append(out, '\n')
	if stderr.Len() > 0 {
		return out, stderr.Bytes(), 1
	}
	return out, nil, 0
}

// cgroupStats is the output of docker.CgroupStats() on a cgroup v1 host: every running container's counters,
// advancing with the time it has been running (a restart resets them, as a new cgroup would).
func (h *dockerHost) cgroupStats(now time.Time, uptime float64) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "@uptime %.2f %.2f\n@cgroup 1\n", uptime, uptime*1.5)
	for _, c := range h.live() {
		if !c.running() {
			continue
		}
		run := now.Sub(c.started).Seconds()
		mode := c.tpl.network
		if c.tpl.project != "" {
			mode = c.tpl.network
		} else if mode == "bridge" {
			mode = "default"
		}
		mem := uint64(20<<20) + uint64(c.tpl.cpuRate*float64(2<<30))
		limit := c.tpl.memLimit
		if limit == 0 {
			limit = 9223372036854771712
		}
		fmt.Fprintf(&b, "@container %s %d %s\n", c.id, c.pid, mode)
		fmt.Fprintf(&b, "@file cpuacct.usage\n%d\n", uint64(run*c.tpl.cpuRate*1e9)+uint64(c.pid)*1000)
		fmt.Fprintf(&b, "@file memory.usage_in_bytes\n%d\n@file memory.limit_in_bytes\n%d\n", mem, limit)
		fmt.Fprintf(&b, "@file memory.stat\ncache %d\nrss %d\ninactive_file %d\nactive_file %d\n"+
			"hierarchical_memory_limit %d\ntotal_cache %d\ntotal_rss %d\ntotal_inactive_file %d\ntotal_active_file %d\n",
			mem/4, mem*3/4, mem/8, mem/8, limit, mem/4, mem*3/4, mem/8, mem/8)
		fmt.Fprintf(&b, "@file pids.current\n%d\n", 1+int(c.tpl.cpuRate*100))
		rd, wr := uint64(run*4096), uint64(run*c.tpl.cpuRate*65536)
		fmt.Fprintf(&b, "@file blkio.throttle.io_service_bytes_recursive\n8:0 Read %d\n8:0 Write %d\n8:0 Sync %d\n"+
			"8:0 Async 0\n8:0 Discard 0\n8:0 Total %d\nTotal %d\n", rd, wr, wr, rd+wr, rd+wr)
		b.WriteString("@file net/dev\n" + netDevHeader)
		b.Write(appendNetDev(nil, "lo", 0, 0, 0, 0))
		if mode != "none" {
			rx := uint64(run * (100 + c.tpl.cpuRate*1e5))
			b.Write(appendNetDev(nil, "eth0", rx, rx/500, rx/2, rx/900))
		}
	}
	return b.Bytes()
}

// stats is the output of docker.Stats(): one sample of every running container.
func (h *dockerHost) stats(now time.Time) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b bytes.Buffer
	for _, c := range h.live() {
		if !c.running() {
			continue
		}
		run := now.Sub(c.started).Seconds()
		mem := float64(20<<20) + c.tpl.cpuRate*float64(2<<30)
		limit := float64(c.tpl.memLimit)
		if limit == 0 {
			limit = 7.6 * (1 << 30)
		}
		line := map[string]string{
			"BlockIO": fmt.Sprintf("%.1fMB / %.1fkB", run*4096/1e6, run*c.tpl.cpuRate*65.536), "CPUPerc": fmt.Sprintf("%.2f%%", c.tpl.cpuRate*100),
			"Container": c.id[:12], "ID": c.id, "MemPerc": fmt.Sprintf("%.2f%%", mem/limit*100),
			"MemUsage": fmt.Sprintf("%.2fMiB / %.2fGiB", mem/(1<<20), limit/(1<<30)), "Name": c.name,
			"NetIO": fmt.Sprintf("%.1fkB / %.1fkB", run*0.1, run*0.05), "PIDs": strconv.Itoa(1 + int(c.tpl.cpuRate*100)),
		}
		raw, _ := json.Marshal(line)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// logs is the output of docker.Logs: timestamped lines, newest last.
func (h *dockerHost) logs(ref string, tail int, now time.Time) ([]byte, []byte, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.find(ref)
	if err != nil {
		return nil, []byte(err.Error() + "\n"), 1
	}
	n := min(tail, 20)
	var b bytes.Buffer
	for i := n; i > 0; i-- {
		t := now.Add(-time.Duration(i) * 10 * time.Second)
		if !c.started.IsZero() && t.Before(c.started) {
			continue
		}
		fmt.Fprintf(&b, "%s %s: simulated log line %d\n", t.UTC().Format(time.RFC3339Nano), c.name, i)
	}
	return b.Bytes(), nil, 0
}

// probeOutput is `docker version --format '{{json .}}'` of a Debian docker.io engine, the shape the probe reads.
const probeOutput = `{"Client":{"Platform":{"Name":""},"Version":"20.10.24+dfsg1","ApiVersion":"1.41","DefaultAPIVersion":"1.41","GitCommit":"297e128","GoVersion":"go1.19.8","Os":"linux","Arch":"amd64","BuildTime":"Thu May  7 21:09:36 2026","Context":"default","Experimental":true},"Server":{"Platform":{"Name":""},"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1","Details":{"ApiVersion":"1.41","Arch":"amd64","BuildTime":"Thu May  7 21:09:36 2026","Experimental":"false","GitCommit":"5d6db84","GoVersion":"go1.19.8","KernelVersion":"6.1.0-27-amd64","MinAPIVersion":"1.12","Os":"linux"}},{"Name":"containerd","Version":"1.6.20~ds1","Details":{"GitCommit":"1.6.20~ds1-1+deb12u3"}},{"Name":"runc","Version":"1.1.5+ds1","Details":{"GitCommit":"1.1.5+ds1-1+deb12u1"}}],"Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12","GitCommit":"5d6db84","GoVersion":"go1.19.8","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0-27-amd64","BuildTime":"2026-05-07T21:09:36.000000000+00:00"}}
`
