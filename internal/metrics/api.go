package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tugdev/tug/internal/kit"
)

// Error types of Prometheus's HTTP API, with their HTTP statuses.
const (
	errBadData   = "bad_data"
	errExec      = "execution"
	errTimeout   = "timeout"
	errCanceled  = "canceled"
	errInternal  = "internal"
	errNotFound  = "not_found"
	errNoMethod  = "bad_data"
	statusClosed = 499 // Prometheus answers "canceled" with nginx's 499
)

// apiError is an error answer: Prometheus's errorType and its status.
type apiError struct {
	typ    string
	status int
	err    error
}

func (e *apiError) Error() string { return e.typ + ": " + e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badData(format string, a ...any) error {
	return &apiError{errBadData, http.StatusBadRequest, fmt.Errorf(format, a...)}
}

func badParam(name string, err error) error {
	return &apiError{errBadData, http.StatusBadRequest, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

// engineError maps a query engine error as Prometheus does.
func engineError(err error) error {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
		es  promql.ErrStorage
	)
	switch {
	case errors.As(err, &eqc), errors.Is(err, context.Canceled):
		return &apiError{errCanceled, statusClosed, err}
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errTimeout, http.StatusServiceUnavailable, err}
	case errors.As(err, &es):
		return &apiError{errInternal, http.StatusInternalServerError, err}
	}
	return &apiError{errExec, http.StatusUnprocessableEntity, err}
}

// response is Prometheus's envelope.
type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

// result is what an endpoint answers: data plus PromQL annotations.
type result struct {
	data     any
	warnings annotations.Annotations
	query    string
}

type endpoint func(r *http.Request) (result, error)

// Handler answers Prometheus's HTTP API (query, query_range,
// format_query, series, labels, label/<name>/values, metadata, rules,
// alerts, targets, query_exemplars, status/buildinfo, status/runtimeinfo,
// status/config, status/flags, status/tsdb) by GET or form POST. Mount it
// at /api/v1/, with or without http.StripPrefix.
func (m *Monitor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/api/v1")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path // mounted with StripPrefix("/api/v1/")
		}
		var ep endpoint
		post := true
		switch {
		case path == "/query":
			ep = m.apiQuery
		case path == "/query_range":
			ep = m.apiQueryRange
		case path == "/series":
			ep = m.apiSeries
		case path == "/labels":
			ep = m.apiLabels
		case strings.HasPrefix(path, "/label/") && strings.HasSuffix(path, "/values"):
			name := strings.TrimSuffix(strings.TrimPrefix(path, "/label/"), "/values")
			ep = func(r *http.Request) (result, error) { return m.apiLabelValues(r, name) }
			post = false
		case path == "/metadata":
			ep, post = m.apiMetadata, false
		case path == "/rules":
			ep, post = m.apiRules, false
		case path == "/alerts":
			ep, post = m.apiAlerts, false
		case path == "/targets":
			ep, post = m.apiTargets, false
		case path == "/query_exemplars":
			ep = func(*http.Request) (result, error) { return result{data: []any{}}, nil }
		case path == "/status/buildinfo":
			ep, post = m.apiBuildInfo, false
		case path == "/status/runtimeinfo":
			ep, post = m.apiRuntimeInfo, false
		case path == "/status/config":
			ep, post = m.apiConfig, false
		case path == "/status/flags":
			ep, post = m.apiFlags, false
		case path == "/status/tsdb":
			ep, post = m.apiTSDB, false
		case path == "/format_query":
			ep = m.apiFormatQuery
		default:
			writeError(w, &apiError{errNotFound, http.StatusNotFound, fmt.Errorf("unknown API endpoint %s", r.URL.Path)})
			return
		}
		if r.Method != http.MethodGet && !(post && r.Method == http.MethodPost) {
			allow := "GET"
			if post {
				allow += ", POST"
			}
			w.Header().Set("Allow", allow)
			writeErrorStatus(w, http.StatusMethodNotAllowed, errNoMethod, fmt.Errorf("method %s not allowed for %s", r.Method, r.URL.Path))
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, badData("error parsing form values: %v", err))
			return
		}
		res, err := ep(r)
		if err != nil {
			writeError(w, err)
			return
		}
		warn, info := res.warnings.AsStrings(res.query, 10, 10)
		writeJSON(w, http.StatusOK, response{Status: "success", Data: res.data, Warnings: warn, Infos: info})
	})
}

// writeError is the one place errors become Prometheus error answers.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{errInternal, http.StatusInternalServerError, err}
	}
	writeErrorStatus(w, ae.status, ae.typ, ae.err)
}

func writeErrorStatus(w http.ResponseWriter, status int, typ string, err error) {
	writeJSON(w, status, response{Status: "error", ErrorType: typ, Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(response{Status: "error", ErrorType: errInternal, Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// minTime and maxTime bound an open time range, as Prometheus's
// MinTime/MaxTime (clients send them formatted).
func minTime() time.Time { return time.Unix(math.MinInt64/1000+62135596801, 0).UTC() }
func maxTime() time.Time { return time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC() }

// parseTime reads a Unix timestamp (float seconds) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(sec), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTime().Format(time.RFC3339Nano):
		return minTime(), nil
	case maxTime().Format(time.RFC3339Nano):
		return maxTime(), nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, badParam(name, err)
	}
	return t, nil
}

// parseDuration reads a duration parameter: float seconds, as Prometheus
// clients send a step or timeout, or the one duration syntax users type
// (kit.ParseDuration, a superset of Prometheus's own: 1m30s, 1.5h, 7d).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	return kit.ParseDuration(s)
}

func limitParam(r *http.Request) (int, error) {
	s := r.FormValue("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badParam("limit", err)
	}
	if n < 0 {
		return 0, badParam("limit", errors.New("limit must be non-negative"))
	}
	return n, nil
}

// matcherSets parses match[] selectors; each set must match something
// other than the empty string, as Prometheus requires.
func (m *Monitor) matcherSets(r *http.Request) ([][]*labels.Matcher, error) {
	sets, err := m.parser.ParseMetricSelectors(r.Form["match[]"])
	if err != nil {
		return nil, badParam("match[]", err)
	}
outer:
	for _, ms := range sets {
		for _, lm := range ms {
			if lm != nil && !lm.Matches("") {
				continue outer
			}
		}
		return nil, badParam("match[]", errors.New("match[] must contain at least one non-empty matcher"))
	}
	return sets, nil
}
