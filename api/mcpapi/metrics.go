package mcpapi

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/infrastructor/infrastructor/internal/store"
)

type getMetricsArgs struct {
	deviceRef
	Metric string `json:"metric"`
	Window string `json:"window"`
	Label  string `json:"label"`
	Value  string `json:"value"`
}

func (e *mcpEndpoint) getMetrics(ctx context.Context, call *toolCall, d *store.Device, args *getMetricsArgs) (*mcp.CallToolResult, error) {
	if err := call.oneOf("metric", args.Metric); err != nil {
		return nil, err
	}
	window, err := parseWindow(args.Window)
	if err != nil {
		return nil, err
	}
	now := e.s.Now()
	q := store.MetricQuery{DeviceID: d.ID, Metric: args.Metric, From: now.Add(-window), To: now,
		Step: max(window/mcpMetricBuckets, 10*time.Second).Round(time.Second)}
	series, source, err := store.QueryMetrics(ctx, e.s.Pool, q)
	if err != nil {
		return nil, err
	}
	kept := series[:0:0]
	for _, s := range series {
		if (args.Label == "" || s.Label == args.Label) && (args.Value == "" || s.Name == args.Value) {
			kept = append(kept, s)
		}
	}
	sums := SummariseSeries(kept)
	more := 0
	if len(sums) > mcpMaxSeries {
		more = len(sums) - mcpMaxSeries
		sums = sums[:mcpMaxSeries]
	}
	lines := []string{fmt.Sprintf("%s of %s over the last %s (%s buckets, %s data):", args.Metric, d.Name, window, q.Step, source)}
	for _, s := range sums {
		lines = append(lines, "- "+s.Text())
	}
	if len(sums) == 0 {
		lines = append(lines, fmt.Sprintf("No samples in this window (device status %s, last seen %s).", d.Status, ago(now, d.LastSeen)))
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("%d more series left out: filter with label or value.", more))
	}
	return textResult(map[string]any{"device_id": d.ID, "device": d.Name, "metric": args.Metric, "from": q.From, "to": q.To,
		"step": q.Step.String(), "source": source, "series": sums, "omitted_series": more}, lines...), nil
}

// SeriesSummary is one metric series over a window in a few numbers: what an agent needs instead of the points.
type SeriesSummary struct {
	Name     string    `json:"name"`
	Label    string    `json:"label,omitempty"`
	Unit     string    `json:"unit"`
	Min      float64   `json:"min"`
	Avg      float64   `json:"avg"`
	Max      float64   `json:"max"`
	Last     float64   `json:"last"`
	LastTime time.Time `json:"last_time"`
	Buckets  int       `json:"buckets"`
	// Trend compares the average of the window's last third with its first third: rising, falling or steady
	// (a change under a fifth of the window's range, or too few buckets to tell).
	Trend  string  `json:"trend"`
	Change float64 `json:"change"`
}

// Text renders the summary on one line.
func (s SeriesSummary) Text() string {
	name := s.Name
	if s.Label != "" {
		name = s.Label + " " + s.Name
	}
	t := fmt.Sprintf("%s (%s): min %s, avg %s, max %s, last %s; %s", name, s.Unit, num(s.Min), num(s.Avg), num(s.Max), num(s.Last), s.Trend)
	if s.Trend != "steady" {
		t += fmt.Sprintf(" (%+s)", num(s.Change))
	}
	return t
}

// SummariseSeries reduces each series to min (of the bucket minima), avg (of the bucket averages), max (of the
// bucket maxima), the last bucket's average and a trend. Series without points are left out.
func SummariseSeries(series []store.Series) []SeriesSummary {
	out := []SeriesSummary{}
	for _, s := range series {
		var avgs []float64
		sum := SeriesSummary{Name: s.Name, Label: s.Label, Unit: s.Unit, Min: math.Inf(1), Max: math.Inf(-1)}
		for _, p := range s.Points {
			if p.Avg == nil {
				continue
			}
			avgs = append(avgs, *p.Avg)
			lo, hi := *p.Avg, *p.Avg
			if p.Min != nil {
				lo = *p.Min
			}
			if p.Max != nil {
				hi = *p.Max
			}
			sum.Min, sum.Max = math.Min(sum.Min, lo), math.Max(sum.Max, hi)
			sum.Last, sum.LastTime = *p.Avg, p.Time
		}
		if len(avgs) == 0 {
			continue
		}
		sum.Buckets = len(avgs)
		sum.Avg = mean(avgs)
		sum.Trend = "steady"
		if n := len(avgs) / 3; n >= 1 && len(avgs) >= 3 {
			sum.Change = mean(avgs[len(avgs)-n:]) - mean(avgs[:n])
			if span := sum.Max - sum.Min; span > 0 && math.Abs(sum.Change) >= span/5 {
				sum.Trend = "rising"
				if sum.Change < 0 {
					sum.Trend = "falling"
				}
			}
		}
		out = append(out, sum)
	}
	return out
}

func mean(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}
