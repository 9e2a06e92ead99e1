package mcpapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

func f64(v float64) *float64 { return &v }
func str(v string) *string   { return &v }

func TestScoreFleet(t *testing.T) {
	t.Parallel()
	healthy := uuid.New()
	tests := []struct {
		name       string
		fig        store.LatestFigures
		containers []*store.ContainerRow
		score      int
		level      string
		reasons    []string
	}{
		{"healthy", store.LatestFigures{Status: store.StatusOnline, CPUPercent: f64(10), MemoryUsedPercent: f64(40),
			DiskMaxPercent: f64(50), DiskMaxMount: str("/"), TempMaxCelsius: f64(45)}, nil, 100, "ok", []string{}},
		{"offline", store.LatestFigures{Status: store.StatusOffline, StatusReason: "dial timeout"}, nil, 40, "critical",
			[]string{"offline (dial timeout)"}},
		{"blocked", store.LatestFigures{Status: store.StatusBlocked, StatusReason: "host key changed"}, nil, 40, "critical",
			[]string{"blocked (host key changed): an administrator must approve its host key"}},
		{"never polled", store.LatestFigures{Status: store.StatusUnknown}, nil, 80, "warning", []string{"not polled successfully yet"}},
		{"stale", store.LatestFigures{Status: store.StatusOnline}, nil, 85, "warning", []string{"no metrics in the last 15 minutes"}},
		{"thresholds are inclusive", store.LatestFigures{Status: store.StatusOnline, CPUPercent: f64(90), MemoryUsedPercent: f64(95.5),
			DiskMaxPercent: f64(97), DiskMaxMount: str("/srv"), TempMaxCelsius: f64(80)}, nil, 15, "critical",
			[]string{"CPU at 90.0% (threshold 90.0%)", "memory at 95.5% (threshold 90.0%)", "filesystem /srv 97.0% full (threshold 90.0%)",
				"temperature 80.0°C (threshold 80.0°C)"}},
		{"containers", store.LatestFigures{Status: store.StatusOnline, CPUPercent: f64(1)}, []*store.ContainerRow{
			{Container: docker.Container{Name: "web", State: docker.StateRunning, Health: docker.HealthUnhealthy}},
			{Container: docker.Container{Name: "db", State: docker.StateRestarting, RestartCount: 7}},
			{Container: docker.Container{Name: "old", State: docker.StateDead}},
			{Container: docker.Container{Name: "ok", State: docker.StateRunning, Health: docker.HealthHealthy}},
			{Container: docker.Container{Name: "done", State: docker.StateExited}},
		}, 70, "warning", []string{"container db restarting (restarted 7 times)", "container old dead", "container web unhealthy"}},
		{"score floors at zero", store.LatestFigures{Status: store.StatusOffline, CPUPercent: f64(99), MemoryUsedPercent: f64(99),
			DiskMaxPercent: f64(99)}, nil, 0, "critical", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fig := tt.fig
			fig.DeviceID, fig.Name = uuid.New(), tt.name
			for _, c := range tt.containers {
				c.DeviceID = fig.DeviceID
			}
			// A second, healthy device whose containers must not count against this one.
			other := &store.LatestFigures{DeviceID: healthy, Name: "other", Status: store.StatusOnline, CPUPercent: f64(1)}
			otherBad := &store.ContainerRow{DeviceID: healthy, Container: docker.Container{Name: "x", State: docker.StateDead}}
			rep := mcpapi.ScoreFleet([]*store.LatestFigures{other, &fig}, append(tt.containers, otherBad), mcpapi.DefaultHealthThresholds)
			require.Len(t, rep.Devices, 2)
			var got mcpapi.DeviceHealth
			for _, d := range rep.Devices {
				if d.DeviceID == fig.DeviceID {
					got = d
				}
			}
			require.Equal(t, tt.score, got.Score)
			require.Equal(t, tt.level, got.Level)
			if tt.reasons != nil {
				require.Equal(t, tt.reasons, got.Reasons)
			}
			require.Equal(t, 2, rep.Counts["ok"]+rep.Counts["warning"]+rep.Counts["critical"])
			require.LessOrEqual(t, rep.Devices[0].Score, rep.Devices[1].Score, "worst first")
		})
	}
}

func TestSummariseSeries(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	points := func(avgs ...float64) []store.Point {
		out := []store.Point{}
		for i, a := range avgs {
			a := a
			lo, hi := a-1, a+1
			out = append(out, store.Point{Time: at.Add(time.Duration(i) * time.Minute), Avg: &a, Min: &lo, Max: &hi})
		}
		return out
	}
	tests := []struct {
		name   string
		series store.Series
		want   *mcpapi.SeriesSummary
	}{
		{"rising", store.Series{Name: "usage_percent", Unit: "percent", Points: points(10, 10, 10, 20, 30, 40)},
			&mcpapi.SeriesSummary{Name: "usage_percent", Unit: "percent", Min: 9, Avg: 20, Max: 41, Last: 40,
				LastTime: at.Add(5 * time.Minute), Buckets: 6, Trend: "rising", Change: 25}},
		{"falling", store.Series{Name: "celsius", Label: "cpu", Unit: "celsius", Points: points(60, 58, 50, 40, 30, 30)},
			&mcpapi.SeriesSummary{Name: "celsius", Label: "cpu", Unit: "celsius", Min: 29, Avg: 44.666666666666664, Max: 61, Last: 30,
				LastTime: at.Add(5 * time.Minute), Buckets: 6, Trend: "falling", Change: -29}},
		{"noise is steady", store.Series{Name: "load1", Unit: "load", Points: points(1, 3, 1, 3, 1, 3)},
			&mcpapi.SeriesSummary{Name: "load1", Unit: "load", Min: 0, Avg: 2, Max: 4, Last: 3, LastTime: at.Add(5 * time.Minute),
				Buckets: 6, Trend: "steady", Change: 0}},
		{"too few buckets for a trend", store.Series{Name: "x", Unit: "bytes", Points: points(1, 100)},
			&mcpapi.SeriesSummary{Name: "x", Unit: "bytes", Min: 0, Avg: 50.5, Max: 101, Last: 100, LastTime: at.Add(time.Minute),
				Buckets: 2, Trend: "steady"}},
		{"empty buckets are skipped", store.Series{Name: "y", Unit: "count", Points: []store.Point{{Time: at}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mcpapi.SummariseSeries([]store.Series{tt.series})
			if tt.want == nil {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.InDelta(t, tt.want.Avg, got[0].Avg, 1e-9)
			require.InDelta(t, tt.want.Change, got[0].Change, 1e-9)
			got[0].Avg, got[0].Change = tt.want.Avg, tt.want.Change
			require.Equal(t, *tt.want, got[0])
			require.NotEmpty(t, got[0].Text())
		})
	}
}
