package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpError carries a status code to the one place that writes errors.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// controlHandler serves the control API (see the end of table.go).
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				writeControlError(w, err)
			}
		})
	}
	handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		t := s.routing.Load().table
		return writeJSON(w, Health{OK: true, Version: t.Version, Routes: len(t.Routes), PID: os.Getpid(), HTTP: s.opts.HTTPAddr, HTTPS: s.opts.HTTPSAddr, Flags: s.opts.FlagsAddr})
	})
	handle("GET /table", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, s.routing.Load().table)
	})
	handle("PUT /table", func(w http.ResponseWriter, r *http.Request) error {
		var t Table
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return &httpError{http.StatusBadRequest, fmt.Errorf("%w: body: %v", ErrInvalidTable, err)}
		}
		if err := s.Apply(&t); err != nil {
			return err
		}
		return writeJSON(w, map[string]any{"version": t.Version})
	})
	handle("GET /stats", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, s.metrics.stats())
	})
	handle("GET /certs", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, s.certStatus())
	})
	handle("GET /backends", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, s.backendStatuses())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: s.errLog}))
	return mux
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// writeControlError maps errors to status codes in one place.
func writeControlError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.Is(err, ErrStale):
		code = http.StatusConflict
	case errors.Is(err, ErrInvalidTable):
		code = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
