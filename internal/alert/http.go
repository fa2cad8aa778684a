package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
)

// Handler serves the alerting API for the server to mount:
//
//	GET    /api/alerts                 firing and pending alerts
//	POST   /api/alerts/{id}/ack        acknowledge a firing alert
//	GET    /api/alerts/history?limit=N notifications sent, newest first
//	GET    /api/silences               every silence
//	POST   /api/silences               add one (SilenceRequest)
//	DELETE /api/silences/{id}          expire one
//	GET    /api/slo                    error budgets
//
// Errors are {"error": {"code", "message"}} as everywhere in tug's API.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := h(r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	handle("GET /api/alerts", func(*http.Request) (any, error) {
		return map[string]any{"alerts": nonNil(e.Alerts())}, nil
	})
	handle("POST /api/alerts/{id}/ack", func(r *http.Request) (any, error) {
		var req AckRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		ack, err := e.Acknowledge(r.Context(), r.PathValue("id"), req)
		return map[string]any{"ack": ack}, err
	})
	handle("GET /api/alerts/history", func(r *http.Request) (any, error) {
		limit := 0
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: limit %q: want a whole number >= 0", ErrInvalid, s)
			}
			limit = n
		}
		ns, err := e.History(r.Context(), limit)
		return map[string]any{"notifications": nonNil(ns)}, err
	})
	handle("GET /api/silences", func(*http.Request) (any, error) {
		return map[string]any{"silences": nonNil(e.Silences())}, nil
	})
	handle("POST /api/silences", func(r *http.Request) (any, error) {
		var req SilenceRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		s, err := e.AddSilence(r.Context(), req)
		return map[string]any{"silence": s}, err
	})
	handle("DELETE /api/silences/{id}", func(r *http.Request) (any, error) {
		s, err := e.ExpireSilence(r.Context(), r.PathValue("id"))
		return map[string]any{"silence": s}, err
	})
	handle("GET /api/slo", func(r *http.Request) (any, error) {
		bs, err := e.Budgets(r.Context())
		return map[string]any{"budgets": nonNil(bs)}, err
	})
	return mux
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrInvalid, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError is the one place errors become HTTP answers.
func writeError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrInvalid):
		status, code = http.StatusBadRequest, "invalid"
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
