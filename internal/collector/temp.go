package collector

import (
	"fmt"
	"strconv"
	"strings"
)

// Temperature is one temperature reading.
type Temperature struct {
	// Sensor names the reading uniquely within a snapshot and stably across
	// polls: "<chip>/<label>" for hwmon ("coretemp/Core 0",
	// "nvme/Composite"), "thermal/<zone type>" for thermal zones. When two
	// readings would share a name (two CPU sockets), both get " #<device>"
	// appended (the hwmon's device, or its hwmonN / thermal_zoneN
	// directory).
	Sensor string `json:"sensor"`
	// Source is "hwmon" or "thermal".
	Source string `json:"source"`
	// Chip is the hwmon driver name ("coretemp", "nvme", "k10temp") or
	// "thermal".
	Chip string `json:"chip,omitempty"`
	// Label is the hwmon label or tempN, or the thermal zone type.
	Label string `json:"label,omitempty"`
	// Device is the hwmon's device directory name ("coretemp.0", "nvme0",
	// "0000:00:18.3"), or the thermal zone directory.
	Device  string  `json:"device,omitempty"`
	Celsius float64 `json:"celsius"`

	instance string // directory that tells duplicates apart
}

// Readings outside this range are what drivers report for an unconnected
// probe (-128 °C, -273.15 °C, 65261.85 °C), not temperatures.
const (
	minCelsius = -100
	maxCelsius = 200
)

// ParseHwmon parses the hwmon section: one tab-separated line per
// temp*_input file with its path, chip name, device directory, value in
// millidegrees and label. A sensor whose read failed (empty value) is
// skipped, as is an implausible reading. It keeps at most MaxSensors.
func ParseHwmon(b []byte) ([]Temperature, error) { return parseHwmon(b, &limiter{}) }

func parseHwmon(b []byte, lim *limiter) ([]Temperature, error) {
	var out []Temperature
	for _, l := range lines(b) {
		f := strings.SplitN(l, "\t", 5)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %q: want path, name, device, value, label", l)
		}
		path, chip, dev, val := f[0], strings.TrimSpace(f[1]), strings.TrimSpace(f[2]), strings.TrimSpace(f[3])
		label := ""
		if len(f) == 5 {
			label = strings.TrimSpace(f[4])
		}
		if val == "" {
			continue
		}
		c, ok, err := milliCelsius(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !ok {
			continue
		}
		inst := hwmonDir(path)
		if inst == "" {
			return nil, fmt.Errorf("path %q: not under a hwmonN directory", path)
		}
		if label == "" {
			base := path[strings.LastIndexByte(path, '/')+1:]
			label = strings.TrimSuffix(base, "_input")
		}
		if chip == "" {
			chip = inst
		}
		if dev != "" {
			inst = dev
		}
		if !lim.room(len(out), MaxSensors) {
			break
		}
		chip, label, dev, inst = lim.clip(chip), lim.clip(label), lim.clip(dev), lim.clip(inst)
		out = append(out, Temperature{
			Sensor: chip + "/" + label, Source: "hwmon", Chip: chip, Label: label,
			Device: dev, Celsius: c, instance: inst,
		})
	}
	return uniqueSensors(out), nil
}

func hwmonDir(path string) string {
	for _, seg := range strings.Split(path, "/") {
		if n, ok := strings.CutPrefix(seg, "hwmon"); ok && n != "" && allDigits(n) {
			return seg
		}
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// milliCelsius converts a sysfs millidegree value; ok is false for a
// reading outside the plausible range.
func milliCelsius(s string) (float64, bool, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("temperature: %w", err)
	}
	c := float64(v) / 1000
	return c, c >= minCelsius && c <= maxCelsius, nil
}

// ParseThermal parses the thermal section: one tab-separated line per
// thermal zone with its directory name, value in millidegrees and type. It
// keeps at most MaxSensors.
func ParseThermal(b []byte) ([]Temperature, error) { return parseThermal(b, &limiter{}) }

func parseThermal(b []byte, lim *limiter) ([]Temperature, error) {
	var out []Temperature
	for _, l := range lines(b) {
		f := strings.SplitN(l, "\t", 3)
		if len(f) < 2 {
			return nil, fmt.Errorf("line %q: want zone, value, type", l)
		}
		zone, val := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
		typ := ""
		if len(f) == 3 {
			typ = strings.TrimSpace(f[2])
		}
		if zone == "" {
			return nil, fmt.Errorf("line %q: no zone", l)
		}
		if val == "" {
			continue
		}
		c, ok, err := milliCelsius(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", zone, err)
		}
		if !ok {
			continue
		}
		if typ == "" {
			typ = zone
		}
		if !lim.room(len(out), MaxSensors) {
			break
		}
		zone, typ = lim.clip(zone), lim.clip(typ)
		out = append(out, Temperature{
			Sensor: "thermal/" + typ, Source: "thermal", Chip: "thermal", Label: typ,
			Device: zone, Celsius: c, instance: zone,
		})
	}
	return uniqueSensors(out), nil
}

// uniqueSensors renames readings that share a Sensor name by appending
// their instance, then an ordinal if that is not enough.
func uniqueSensors(ts []Temperature) []Temperature {
	count := make(map[string]int, len(ts))
	for _, t := range ts {
		count[t.Sensor]++
	}
	for i := range ts {
		if count[ts[i].Sensor] > 1 && ts[i].instance != "" {
			ts[i].Sensor += " #" + ts[i].instance
		}
	}
	seen := make(map[string]int, len(ts))
	for i := range ts {
		seen[ts[i].Sensor]++
		if n := seen[ts[i].Sensor]; n > 1 {
			ts[i].Sensor += " #" + strconv.Itoa(n)
		}
	}
	return ts
}
