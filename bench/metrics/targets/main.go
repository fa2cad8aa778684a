// Command targets serves N loopback /metrics endpoints shaped like a
// typical Go web service (Go runtime and process collectors plus a
// request counter and latency histogram by route and code), for the
// monitoring benchmark. It prints one host:port per line, then serves
// until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	n := flag.Int("n", 50, "number of targets")
	flag.Parse()
	for range *n {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."}, []string{"route", "code"})
		lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Latency."}, []string{"route", "code"})
		reg.MustRegister(reqs, lat)
		routes := []string{"/", "/api/items", "/api/cart", "/login", "/healthz"}
		codes := []string{"200", "404", "500"}
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Simulate the traffic since the last scrape.
			for range 100 {
				rt, c := routes[rand.IntN(len(routes))], codes[rand.IntN(len(codes))]
				reqs.WithLabelValues(rt, c).Inc()
				lat.WithLabelValues(rt, c).Observe(rand.ExpFloat64() / 20)
			}
			metrics.ServeHTTP(w, r)
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(l.Addr().String())
		go func() { log.Fatal(http.Serve(l, h)) }()
	}
	fmt.Fprintln(os.Stderr, "targets: pid", os.Getpid())
	select {}
}
