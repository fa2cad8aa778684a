// Package metrics_bench measures tug's monitoring room: TSDB ingestion
// and PromQL over its HTTP API. Run with bench/metrics/run.sh.
package metrics_bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/metrics"
)

func open(b *testing.B) *metrics.Monitor {
	m, err := metrics.New(metrics.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	return m
}

// seriesSet is n label sets shaped like scraped service metrics.
func seriesSet(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "http_requests_total",
			"job", fmt.Sprintf("svc%02d", i%50), "instance", fmt.Sprintf("i%d", i%7),
			"route", fmt.Sprintf("/r%d", i/350), "code", strconv.Itoa(200+i%3))
	}
	return out
}

// BenchmarkAppend appends scrapes of 1,000 series (one commit each, as a
// scrape does) and reports samples appended per second.
func BenchmarkAppend(b *testing.B) {
	m := open(b)
	ls := seriesSet(1000)
	refs := make([]storage.SeriesRef, len(ls))
	db := m.Storage()
	t := time.Now().UnixMilli()
	n := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		app := db.AppenderV2(context.Background())
		for i, l := range ls {
			ref, err := app.Append(refs[i], l, 0, t, float64(n), nil, nil, storage.AOptions{})
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = ref
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
		t += 15_000
		n++
	}
	b.ReportMetric(float64(n*len(ls))/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(n*len(ls))/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
}

// BenchmarkRangeQuery1h10kSeries asks the /api/v1/query_range handler for
// sum by (job) (rate(...[5m])) over the last hour at a 15s step, over 10k
// counters scraped every 15s for that hour (2.4M samples).
func BenchmarkRangeQuery1h10kSeries(b *testing.B) {
	m := open(b)
	ls := seriesSet(10_000)
	end := time.Now().Truncate(time.Second)
	start := end.Add(-time.Hour)
	refs := make([]storage.SeriesRef, len(ls))
	for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
		app := m.Storage().AppenderV2(context.Background())
		for i, l := range ls {
			ref, err := app.Append(refs[i], l, 0, ts.UnixMilli(), float64(ts.Sub(start)/time.Second)*float64(1+i%5), nil, nil, storage.AOptions{})
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = ref
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	h, err := api.NewHandler(api.Options{Monitor: m})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	q := url.Values{
		"query": {`sum by (job) (rate(http_requests_total[5m]))`},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {"15"},
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.PostForm(srv.URL+"/api/v1/query_range", q)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
		resp.Body.Close()
	}
	// CPU time separates the work from waiting on a shared, loaded machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
