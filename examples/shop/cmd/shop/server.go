package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// server holds the handlers and the request counters /metrics exposes.
type server struct {
	version string
	// revision is the git commit the binary was built from ("" unknown).
	revision string
	started  time.Time

	mu       sync.Mutex
	requests map[requestKey]int64
}

type requestKey struct {
	path string
	code int
}

func newServer(version string) *server {
	if version == "" {
		version = "dev"
	}
	return &server{version: version, started: time.Now(), requests: map[requestKey]int64{}}
}

// withRevision records the git commit the binary was built from.
func (s *server) withRevision(rev string) *server {
	s.revision = rev
	return s
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		v := map[string]string{"version": s.version}
		if s.revision != "" {
			v["revision"] = s.revision
		}
		json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("GET /metrics", s.metrics)
	return s.count(mux)
}

// count records every request by path and status code.
func (s *server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		path := r.URL.Path
		if rec.code == http.StatusNotFound {
			path = "other" // unbounded label values would grow forever
		}
		s.mu.Lock()
		s.requests[requestKey{path, rec.code}]++
		s.mu.Unlock()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// metrics writes the Prometheus text exposition format (version 0.0.4).
func (s *server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.mu.Lock()
	keys := make([]requestKey, 0, len(s.requests))
	for k := range s.requests {
		keys = append(keys, k)
	}
	counts := make(map[requestKey]int64, len(keys))
	for k, v := range s.requests {
		counts[k] = v
	}
	s.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].path != keys[j].path {
			return keys[i].path < keys[j].path
		}
		return keys[i].code < keys[j].code
	})
	fmt.Fprintln(w, "# HELP shop_http_requests_total HTTP requests served, by path and status code.")
	fmt.Fprintln(w, "# TYPE shop_http_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "shop_http_requests_total{path=%s,code=\"%d\"} %d\n", strconv.Quote(k.path), k.code, counts[k])
	}
	fmt.Fprintln(w, "# HELP shop_build_info The running version of shop.")
	fmt.Fprintln(w, "# TYPE shop_build_info gauge")
	if s.revision != "" {
		fmt.Fprintf(w, "shop_build_info{version=%s,revision=%s} 1\n", strconv.Quote(s.version), strconv.Quote(s.revision))
	} else {
		fmt.Fprintf(w, "shop_build_info{version=%s} 1\n", strconv.Quote(s.version))
	}
	fmt.Fprintln(w, "# HELP shop_uptime_seconds Seconds since the process started.")
	fmt.Fprintln(w, "# TYPE shop_uptime_seconds gauge")
	fmt.Fprintf(w, "shop_uptime_seconds %.3f\n", time.Since(s.started).Seconds())
}
