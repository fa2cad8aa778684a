package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// Threshold is a horizontal line at a value (an SLO, a limit).
type Threshold struct {
	Label string
	Value float64
}

// Marker is a vertical line at a time (a deploy).
type Marker struct {
	Label string
	T     time.Time
}

// Chart is a line chart drawn on the server as SVG: a time axis in the
// viewer's zone, a value axis in the chart's unit, a legend with each
// series' last value, threshold lines and deploy markers. The script
// reads the scales from the SVG's data attributes for its tooltips; the
// legend says the same without it.
type Chart struct {
	Title      string
	Unit       string
	Series     []Series
	Thresholds []Threshold
	Markers    []Marker
	From, To   time.Time
	Loc        *time.Location
	// Err is shown instead of the lines (a bad query).
	Err string
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 600, 200
	padL, padR, padT, padB         = 56, 10, 8, 22
	maxSeriesDrawn                 = 12
	plotW, plotH           float64 = chartW - padL - padR, chartH - padT - padB
)

// colors are the series' colours, chosen to read on dark and light.
var colors = [...]string{"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#8cd17d", "#86bcb6", "#d37295"}

// SVG renders the chart.
func (c Chart) SVG() template.HTML {
	loc := c.Loc
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	t0, t1 := c.From.Unix(), c.To.Unix()
	if t1 <= t0 {
		t1 = t0 + 1
	}
	lo, hi := c.bounds()
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, esc(c.Title))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" data-t0="%d" data-t1="%d" data-y0="%s" data-y1="%s" data-unit="%s" data-l="%d" data-r="%d" data-t="%d" data-b="%d">`,
		chartW, chartH, esc(c.Title), t0, t1, num(lo), num(hi), esc(c.Unit), padL, chartW-padR, padT, chartH-padB)
	x := func(t time.Time) float64 { return padL + plotW*float64(t.Unix()-t0)/float64(t1-t0) }
	y := func(v float64) float64 { return padT + plotH*(1-(v-lo)/(hi-lo)) }
	// Value grid and labels.
	for _, v := range niceTicks(lo, hi, 4) {
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, chartW-padR, yy, yy, padL-4, yy+3, esc(formatValue(v, c.Unit)))
	}
	// Time labels in the viewer's zone.
	step := timeStep(c.To.Sub(c.From))
	layout := "15:04"
	if c.To.Sub(c.From) > 36*time.Hour {
		layout = "Jan 2"
	}
	for t := c.From.In(loc).Truncate(step).Add(step); t.Before(c.To); t = t.Add(step) {
		xx := x(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			xx, xx, padT, chartH-padB, xx, chartH-6, t.In(loc).Format(layout))
	}
	if c.Err != "" {
		fmt.Fprintf(&b, `<text class="err" x="%d" y="%d">%s</text>`, padL+8, padT+20, esc(c.Err))
	} else if len(c.Series) == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">no data</text>`, padL+8, padT+20)
	}
	for _, th := range c.Thresholds {
		yy := y(th.Value)
		fmt.Fprintf(&b, `<line class="threshold" x1="%d" x2="%d" y1="%.1f" y2="%.1f"><title>%s %s</title></line>`,
			padL, chartW-padR, yy, yy, esc(th.Label), esc(formatValue(th.Value, c.Unit)))
	}
	for _, m := range c.Markers {
		if m.T.Before(c.From) || m.T.After(c.To) {
			continue
		}
		xx := x(m.T)
		fmt.Fprintf(&b, `<line class="marker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"><title>%s at %s</title></line>`,
			xx, xx, padT, chartH-padB, esc(m.Label), m.T.In(loc).Format("15:04:05"))
	}
	for i, s := range c.Series {
		if i >= maxSeriesDrawn {
			break
		}
		fmt.Fprintf(&b, `<polyline class="line" stroke="%s" data-name="%s" points="`, colors[i%len(colors)], esc(s.Name))
		for j, p := range s.Points {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.T), y(p.V))
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`, esc(s.Name))
	}
	b.WriteString(`</svg><ul class="legend">`)
	for i, s := range c.Series {
		if i >= maxSeriesDrawn {
			fmt.Fprintf(&b, `<li>and %d more series</li>`, len(c.Series)-maxSeriesDrawn)
			break
		}
		last := ""
		if n := len(s.Points); n > 0 {
			last = formatValue(s.Points[n-1].V, c.Unit)
		}
		fmt.Fprintf(&b, `<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="%s"/></svg> %s <b>%s</b></li>`, colors[i%len(colors)], esc(s.Name), esc(last))
	}
	b.WriteString(`</ul></figure>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// bounds is the value range: from 0 (or the lowest value, if negative)
// to a little above the highest value or threshold.
func (c Chart) bounds() (lo, hi float64) {
	lo, hi = 0, math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
		}
	}
	for _, t := range c.Thresholds {
		lo, hi = math.Min(lo, t.Value), math.Max(hi, t.Value)
	}
	if math.IsInf(hi, -1) || hi <= lo {
		hi = lo + 1
	}
	ticks := niceTicks(lo, hi*1.05, 4)
	return lo, math.Max(hi*1.05, ticks[len(ticks)-1])
}

// niceTicks are about n round values covering lo..hi.
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return []float64{lo}
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step/2 && len(out) < 2*n+2; v += step {
		out = append(out, v)
	}
	if len(out) == 0 {
		out = []float64{lo}
	}
	return out
}

// timeStep is a round step giving about six labels over d.
func timeStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if d/s <= 7 {
			return s
		}
	}
	return 7 * 24 * time.Hour
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// formatValue writes v in a panel's unit (config.PanelUnits): seconds
// as ms or µs, bytes in binary multiples, ratios (0–1) and percents
// (0–100) as percentages, rates per second or minute, counts with k, M,
// G; another unit is written after the number.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	switch unit {
	case "seconds":
		switch a := math.Abs(v); {
		case a == 0:
			return "0"
		case a < 1e-3:
			return trim(v*1e6) + "µs"
		case a < 1:
			return trim(v*1e3) + "ms"
		}
		return trim(v) + "s"
	case "bytes":
		units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
		i := 0
		for math.Abs(v) >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return trim(v) + " " + units[i]
	case "ratio":
		return trim(v*100) + "%"
	case "percent":
		return trim(v) + "%"
	}
	suffix := ""
	for _, s := range []struct {
		f float64
		s string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= s.f {
			v, suffix = v/s.f, s.s
			break
		}
	}
	out := trim(v) + suffix
	switch unit {
	case "", "count":
	case "per_second":
		out += "/s"
	case "per_minute":
		out += "/min"
	default:
		out += " " + unit
	}
	return out
}

// trim is f with three significant digits, without trailing zeros.
func trim(f float64) string {
	s := strconv.FormatFloat(f, 'f', max(0, 2-int(math.Floor(math.Log10(math.Max(math.Abs(f), 1e-9))))), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
