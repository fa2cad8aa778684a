package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
)

// Error types of Prometheus's HTTP API, with their HTTP statuses.
const (
	errBadData     = "bad_data"
	errExec        = "execution"
	errTimeout     = "timeout"
	errCanceled    = "canceled"
	errInternal    = "internal"
	errNotFound    = "not_found"
	errUnavailable = "unavailable"
	statusClosed   = 499 // Prometheus answers "canceled" with nginx's 499
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

// Response is Prometheus's envelope: status "success" with Data (and
// PromQL's warnings and infos), or status "error" with ErrorType and
// Error. D is the data of one endpoint, for the OpenAPI document and the
// client; the server writes Response[any].
type Response[D any] struct {
	Status    string   `json:"status"`
	Data      D        `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

// ErrorResponse is an error answer of the Prometheus-compatible API.
type ErrorResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// result is what an endpoint answers: data plus PromQL annotations.
type result struct {
	data     any
	warnings annotations.Annotations
	query    string
}

// Prefix is where the Prometheus-compatible API is served.
const Prefix = "/api/v1/"

// ErrNoMonitor answers the Prometheus API of a server without metrics.
var ErrNoMonitor = errors.New("this server keeps no metrics")

// OpQuery and OpQueryRange are the PromQL queries as the client calls
// them; Ops declares every endpoint.
var (
	OpQuery      = promDecl[QueryParams, QueryResult](http.MethodGet, "query", "PromQL instant query")
	OpQueryRange = promDecl[RangeParams, QueryResult](http.MethodGet, "query_range", "PromQL range query")
)

func promDecl[P, D any](method, path, summary string) endpoint.Decl[P, endpoint.None, Response[D]] {
	if method == http.MethodPost {
		summary += " by form POST"
	}
	d := endpoint.Declare[P, endpoint.None, Response[D]](method, Prefix+path, endpoint.Viewer, summary+" (Prometheus HTTP API).")
	if method == http.MethodPost {
		d = d.Safe()
	}
	return d
}

// Ops binds Prometheus's HTTP API (query, query_range, format_query,
// series, labels, label/{name}/values, metadata, rules, alerts, targets,
// query_exemplars, status/buildinfo, status/runtimeinfo, status/config,
// status/flags, status/tsdb) to m, by GET and, where Prometheus takes
// them, by form POST. Answers and errors keep Prometheus's envelope,
// which Grafana and Prometheus's clients read; so do unmatched requests
// under Prefix. A nil m answers ErrNoMonitor.
func Ops(m *Monitor) []endpoint.Op {
	const post, get = true, false
	return slices.Concat(
		promOps(m, OpQuery, post, (*Monitor).apiQuery),
		promOps(m, OpQueryRange, post, (*Monitor).apiQueryRange),
		promOps(m, promDecl[FormatParams, string](http.MethodGet, "format_query", "Pretty-print a PromQL expression"), post, (*Monitor).apiFormatQuery),
		promOps(m, promDecl[SelectParams, []map[string]string](http.MethodGet, "series", "Series matching match[]"), post, (*Monitor).apiSeries),
		promOps(m, promDecl[SelectParams, []string](http.MethodGet, "labels", "Label names"), post, (*Monitor).apiLabels),
		promOps(m, promDecl[LabelValuesParams, []string](http.MethodGet, "label/{name}/values", "Values of one label"), get, (*Monitor).apiLabelValues),
		promOps(m, promDecl[MetadataParams, map[string][]metadata.Metadata](http.MethodGet, "metadata", "Metric metadata"), get, (*Monitor).apiMetadata),
		promOps(m, promDecl[RulesParams, RulesData](http.MethodGet, "rules", "Recording and alerting rules"), get, (*Monitor).apiRules),
		promOps(m, promDecl[endpoint.None, AlertsData](http.MethodGet, "alerts", "Active alerts"), get, (*Monitor).apiAlerts),
		promOps(m, promDecl[endpoint.None, TargetsData](http.MethodGet, "targets", "Scrape targets"), get, (*Monitor).apiTargets),
		promOps(m, promDecl[ExemplarParams, []json.RawMessage](http.MethodGet, "query_exemplars", "Exemplars (tug keeps none)"), post, (*Monitor).apiExemplars),
		promOps(m, promDecl[endpoint.None, map[string]string](http.MethodGet, "status/buildinfo", "Build information"), get, (*Monitor).apiBuildInfo),
		promOps(m, promDecl[endpoint.None, RuntimeInfo](http.MethodGet, "status/runtimeinfo", "Runtime information"), get, (*Monitor).apiRuntimeInfo),
		promOps(m, promDecl[endpoint.None, ConfigData](http.MethodGet, "status/config", "The Prometheus configuration tug derived from tug.yaml"), get, (*Monitor).apiConfig),
		promOps(m, promDecl[endpoint.None, map[string]string](http.MethodGet, "status/flags", "The Prometheus flags tug's settings stand for"), get, (*Monitor).apiFlags),
		promOps(m, promDecl[TSDBParams, TSDBData](http.MethodGet, "status/tsdb", "Cardinality of the head block"), get, (*Monitor).apiTSDB),
	)
}

// promOps binds fn to the GET declaration d and, with post, to the same
// endpoint by form POST.
func promOps[P, D any](m *Monitor, d endpoint.Decl[P, endpoint.None, Response[D]], post bool,
	fn func(*Monitor, context.Context, P) (result, error)) []endpoint.Op {
	decls := []endpoint.Decl[P, endpoint.None, Response[D]]{d}
	if post {
		path := strings.TrimPrefix(d.Path(), Prefix)
		decls = append(decls, promDecl[P, D](http.MethodPost, path, strings.TrimSuffix(d.Summary(), " (Prometheus HTTP API).")))
	}
	ops := make([]endpoint.Op, len(decls))
	for i, dd := range decls {
		ops[i] = dd.Write(endpoint.MediaJSON, func(w http.ResponseWriter, r *http.Request, p P) error {
			if m == nil {
				return ErrNoMonitor
			}
			res, err := fn(m, r.Context(), p)
			if err != nil {
				return err
			}
			warn, info := res.warnings.AsStrings(res.query, 10, 10)
			writeJSON(w, http.StatusOK, Response[any]{Status: "success", Data: res.data, Warnings: warn, Infos: info})
			return nil
		}).WithErrors(ErrorResponse{}, Prefix, writeError)
	}
	return ops
}

// writeError is the one place errors become Prometheus error answers:
// the engine's and the parameters' with their own type, the route
// table's (no such endpoint, wrong method, a refused request) by code.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{errInternal, http.StatusInternalServerError, err}
		if code, ok := endpoint.CodeOf(err); ok {
			ae = &apiError{errBadData, code.Status(), err}
			switch code {
			case endpoint.CodeNoRoute, endpoint.CodeNotFound:
				ae.typ = errNotFound
			case endpoint.CodeUnavailable:
				ae.typ = errUnavailable
			}
		} else if errors.Is(err, ErrNoMonitor) {
			ae = &apiError{errUnavailable, http.StatusServiceUnavailable, err}
		}
	}
	writeJSON(w, ae.status, ErrorResponse{Status: "error", ErrorType: ae.typ, Error: ae.err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorResponse{Status: "error", ErrorType: errInternal, Error: err.Error()})
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

func timeParam(name, v string, def time.Time) (time.Time, error) {
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

func limitParam(s string) (int, error) {
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
func (m *Monitor) matcherSets(match []string) ([][]*labels.Matcher, error) {
	sets, err := m.parser.ParseMetricSelectors(match)
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
