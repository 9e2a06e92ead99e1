package mcpapi

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// HealthThresholds are the levels above which fleet_health counts a figure against a device.
type HealthThresholds struct {
	CPUPercent         float64 `json:"cpu_percent"`
	MemoryPercent      float64 `json:"memory_percent"`
	DiskPercent        float64 `json:"disk_percent"`
	TemperatureCelsius float64 `json:"temperature_celsius"`
}

// DefaultHealthThresholds are fleet_health's thresholds when the caller names none.
var DefaultHealthThresholds = HealthThresholds{CPUPercent: 90, MemoryPercent: 90, DiskPercent: 90, TemperatureCelsius: 80}

// Penalties, out of 100. An unreachable device outweighs everything else, since nothing about it is known.
const (
	penaltyUnreachable = 60
	penaltyUnknown     = 20
	penaltyStale       = 15
	penaltyFigure      = 20
	penaltyDisk        = 25
	penaltyContainer   = 10
)

// DeviceHealth is one device's score (0-100, 100 healthy), its level (ok, warning, critical) and the reasons.
type DeviceHealth struct {
	DeviceID uuid.UUID `json:"device_id"`
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	Score    int       `json:"score"`
	Level    string    `json:"level"`
	Reasons  []string  `json:"reasons"`
}

// Text renders the device's health on one line.
func (d DeviceHealth) Text() string {
	t := fmt.Sprintf("%s: %d/100 %s", d.Name, d.Score, d.Level)
	if len(d.Reasons) > 0 {
		t += ": " + strings.Join(d.Reasons, "; ")
	}
	return t
}

// FleetHealth is fleet_health's answer: every device, worst first, and counts per level.
type FleetHealth struct {
	Thresholds HealthThresholds `json:"thresholds"`
	Counts     map[string]int   `json:"counts"`
	Devices    []DeviceHealth   `json:"devices"`
}

// Headline sums the report up in one line.
func (f FleetHealth) Headline() string {
	if len(f.Devices) == 0 {
		return "No devices are managed yet."
	}
	return fmt.Sprintf("Fleet health: %d devices, %d critical, %d warning, %d ok (worst first):", len(f.Devices),
		f.Counts["critical"], f.Counts["warning"], f.Counts["ok"])
}

// ScoreFleet scores each device from its latest figures and its containers. A device without recent figures
// while online is stale; offline and blocked devices lose most of their score; each figure over its threshold
// and each unhealthy, restarting or dead container costs points. Level: critical under 50, warning under 90 or
// with any reason, ok otherwise.
func ScoreFleet(figs []*store.LatestFigures, containers []*store.ContainerRow, th HealthThresholds) FleetHealth {
	byDevice := map[uuid.UUID][]*store.ContainerRow{}
	for _, c := range containers {
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	out := FleetHealth{Thresholds: th, Counts: map[string]int{"ok": 0, "warning": 0, "critical": 0}, Devices: []DeviceHealth{}}
	for _, f := range figs {
		h := DeviceHealth{DeviceID: f.DeviceID, Name: f.Name, Status: f.Status, Score: 100, Reasons: []string{}}
		lose := func(points int, reason string) {
			h.Score -= points
			h.Reasons = append(h.Reasons, reason)
		}
		switch f.Status {
		case store.StatusOffline:
			lose(penaltyUnreachable, "offline"+paren(f.StatusReason))
		case store.StatusBlocked:
			lose(penaltyUnreachable, "blocked"+paren(f.StatusReason)+": an administrator must approve its host key")
		case store.StatusUnknown:
			lose(penaltyUnknown, "not polled successfully yet"+paren(f.StatusReason))
		}
		if f.Status == store.StatusOnline && f.CPUPercent == nil {
			lose(penaltyStale, "no metrics in the last 15 minutes")
		}
		if f.CPUPercent != nil && *f.CPUPercent >= th.CPUPercent {
			lose(penaltyFigure, fmt.Sprintf("CPU at %s%% (threshold %s%%)", num(*f.CPUPercent), num(th.CPUPercent)))
		}
		if f.MemoryUsedPercent != nil && *f.MemoryUsedPercent >= th.MemoryPercent {
			lose(penaltyFigure, fmt.Sprintf("memory at %s%% (threshold %s%%)", num(*f.MemoryUsedPercent), num(th.MemoryPercent)))
		}
		if f.DiskMaxPercent != nil && *f.DiskMaxPercent >= th.DiskPercent {
			mount := "a filesystem"
			if f.DiskMaxMount != nil {
				mount = *f.DiskMaxMount
			}
			lose(penaltyDisk, fmt.Sprintf("filesystem %s %s%% full (threshold %s%%)", mount, num(*f.DiskMaxPercent), num(th.DiskPercent)))
		}
		if f.TempMaxCelsius != nil && *f.TempMaxCelsius >= th.TemperatureCelsius {
			lose(penaltyFigure, fmt.Sprintf("temperature %s°C (threshold %s°C)", num(*f.TempMaxCelsius), num(th.TemperatureCelsius)))
		}
		cs := byDevice[f.DeviceID]
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
		for _, c := range cs {
			switch {
			case c.Health == docker.HealthUnhealthy:
				lose(penaltyContainer, "container "+c.Name+" unhealthy")
			case c.State == docker.StateRestarting:
				lose(penaltyContainer, fmt.Sprintf("container %s restarting (restarted %d times)", c.Name, c.RestartCount))
			case c.State == docker.StateDead:
				lose(penaltyContainer, "container "+c.Name+" dead")
			}
		}
		h.Score = max(h.Score, 0)
		switch {
		case h.Score < 50:
			h.Level = "critical"
		case h.Score < 90 || len(h.Reasons) > 0:
			h.Level = "warning"
		default:
			h.Level = "ok"
		}
		out.Counts[h.Level]++
		out.Devices = append(out.Devices, h)
	}
	sort.SliceStable(out.Devices, func(i, j int) bool { return out.Devices[i].Score < out.Devices[j].Score })
	return out
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
