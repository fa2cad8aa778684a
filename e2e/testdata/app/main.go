// Command app is the service the end-to-end tests deploy: it answers its
// version (read from ./VERSION in its working directory, the release copy)
// and can be told to be unhealthy or to fail a share of its requests.
//
//	PORT         where to listen (set by tug)
//	FAIL_RATE    share of requests to / answered 500 (0..1)
//	HEALTH_FAIL  "1": /healthz answers 503
//
// A file ./FAULT holding a share (0..1), read at every request, injects
// failures into a running instance: a bad release that only fails once
// it is live.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	version := "unknown"
	if b, err := os.ReadFile("VERSION"); err == nil {
		version = strings.TrimSpace(string(b))
	}
	failRate, _ := strconv.ParseFloat(os.Getenv("FAIL_RATE"), 64)
	if b, err := os.ReadFile("FAIL_RATE"); err == nil {
		failRate, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	}
	healthFail := os.Getenv("HEALTH_FAIL") == "1"
	if _, err := os.Stat("HEALTH_FAIL"); err == nil {
		healthFail = true
	}
	var n atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if healthFail {
			http.Error(w, "not ready: database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		rate := failRate
		if b, err := os.ReadFile("FAULT"); err == nil {
			rate, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		}
		if rate > 0 && float64(i%100) < rate*100 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, version)
	})
	addr := "127.0.0.1:" + os.Getenv("PORT")
	log.Printf("app %s listening on %s", version, addr)
	if healthFail {
		log.Printf("health check will fail: database unreachable")
	}
	log.Fatal(http.ListenAndServe(addr, mux))
}
