package metrics

import (
	"errors"
	"fmt"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb/index"
)

// PrometheusVersion is the Prometheus release whose engine and TSDB tug
// embeds (module v0.316.0); buildinfo reports it so Grafana enables the
// matching query features.
const PrometheusVersion = "3.16.0"

func (m *Monitor) apiBuildInfo(*http.Request) (result, error) {
	return result{data: map[string]string{
		"version":   PrometheusVersion,
		"revision":  cmpOr(m.opts.Version, "unknown"),
		"branch":    "tug",
		"buildUser": "tug",
		"buildDate": "",
		"goVersion": goruntime.Version(),
	}}, nil
}

func (m *Monitor) apiRuntimeInfo(*http.Request) (result, error) {
	return result{data: map[string]any{
		"startTime":           m.start,
		"CWD":                 "",
		"reloadConfigSuccess": true,
		"lastConfigTime":      m.start,
		"corruptionCount":     0,
		"goroutineCount":      goruntime.NumGoroutine(),
		"GOMAXPROCS":          goruntime.GOMAXPROCS(0),
		"GOGC":                "",
		"GODEBUG":             "",
		"storageRetention":    m.Retention().String(),
	}}, nil
}

// apiConfig is the Prometheus configuration tug derived from tug.yaml
// and applied to its scrape manager last.
func (m *Monitor) apiConfig(*http.Request) (result, error) {
	m.mu.Lock()
	cfg := m.lastPromCfg
	m.mu.Unlock()
	return result{data: map[string]string{"yaml": cfg}}, nil
}

// apiFlags answers with the Prometheus flags tug's settings stand for.
func (m *Monitor) apiFlags(*http.Request) (result, error) {
	return result{data: map[string]string{
		"storage.tsdb.path":           m.opts.Dir,
		"storage.tsdb.retention.time": model.Duration(m.Retention()).String(),
		"query.timeout":               model.Duration(queryTimeout).String(),
		"query.lookback-delta":        model.Duration(lookbackDelta).String(),
		"query.max-samples":           strconv.Itoa(maxSamples),
	}}, nil
}

// The query engine's limits, also reported by status/flags.
const (
	queryTimeout  = 2 * time.Minute
	lookbackDelta = 5 * time.Minute
	maxSamples    = 50_000_000
)

// maxTSDBLimit bounds status/tsdb's limit, as in Prometheus.
const maxTSDBLimit = 10000

// tsdbStat is one row of status/tsdb's cardinality lists.
type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// apiTSDB reports the head block's cardinality, Prometheus's
// status/tsdb: what to look at when series multiply.
func (m *Monitor) apiTSDB(r *http.Request) (result, error) {
	limit := 10
	if s := r.FormValue("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return result{}, badData("limit must be a positive number")
		}
		if n > maxTSDBLimit {
			return result{}, badData("limit must not exceed %d", maxTSDBLimit)
		}
		limit = n
	}
	st := m.db.Head().Stats(labels.MetricName, limit)
	rows := func(in []index.Stat) []tsdbStat {
		out := make([]tsdbStat, len(in))
		for i, s := range in {
			out[i] = tsdbStat{s.Name, s.Count}
		}
		return out
	}
	ps := st.IndexPostingStats
	return result{data: map[string]any{
		"headStats": map[string]any{
			"numSeries":     st.NumSeries,
			"numLabelPairs": ps.NumLabelPairs,
			"chunkCount":    m.headChunks(),
			"minTime":       st.MinTime,
			"maxTime":       st.MaxTime,
		},
		"seriesCountByMetricName":     rows(ps.CardinalityMetricsStats),
		"labelValueCountByLabelName":  rows(ps.CardinalityLabelStats),
		"memoryInBytesByLabelName":    rows(ps.LabelValueStats),
		"seriesCountByLabelValuePair": rows(ps.LabelValuePairsStats),
	}}, nil
}

// headChunks reads the TSDB's own head chunk gauge, as Prometheus does.
func (m *Monitor) headChunks() int64 {
	mfs, err := m.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "prometheus_tsdb_head_chunks" && len(mf.GetMetric()) > 0 {
			return int64(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return 0
}

// apiMetadata merges the scrape manager's per-target metadata with the
// in-process sources', one entry per distinct (type, help, unit).
func (m *Monitor) apiMetadata(r *http.Request) (result, error) {
	limit, perMetric := -1, -1
	for name, p := range map[string]*int{"limit": &limit, "limit_per_metric": &perMetric} {
		if s := r.FormValue(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return result{}, badData("%s must be a number", name)
			}
			*p = n
		}
	}
	metric := r.FormValue("metric")
	sets := map[string]map[metadata.Metadata]struct{}{}
	add := func(family string, md metadata.Metadata) {
		if metric != "" && family != metric {
			return
		}
		s := sets[family]
		if perMetric > 0 && len(s) >= perMetric {
			return
		}
		if s == nil {
			s = map[metadata.Metadata]struct{}{}
			sets[family] = s
		}
		s[md] = struct{}{}
	}
	for _, ts := range m.scrape.TargetsActive() {
		for _, t := range ts {
			for _, mm := range t.ListMetadata() {
				add(mm.MetricFamily, metadata.Metadata{Type: mm.Type, Help: mm.Help, Unit: mm.Unit})
			}
		}
	}
	m.meta.each(add)
	out := map[string][]metadata.Metadata{}
	for name, set := range sets {
		if limit >= 0 && len(out) >= limit {
			break
		}
		list := []metadata.Metadata{}
		for md := range set {
			list = append(list, md)
		}
		out[name] = list
	}
	return result{data: out}, nil
}

// apiTarget is one entry of /api/v1/targets.
type apiTarget struct {
	DiscoveredLabels   labels.Labels `json:"discoveredLabels"`
	Labels             labels.Labels `json:"labels"`
	ScrapePool         string        `json:"scrapePool"`
	ScrapeURL          string        `json:"scrapeUrl"`
	GlobalURL          string        `json:"globalUrl"`
	LastError          string        `json:"lastError"`
	LastScrape         time.Time     `json:"lastScrape"`
	LastScrapeDuration float64       `json:"lastScrapeDuration"`
	Health             string        `json:"health"`
	ScrapeInterval     string        `json:"scrapeInterval"`
	ScrapeTimeout      string        `json:"scrapeTimeout"`
}

func (m *Monitor) apiTargets(*http.Request) (result, error) {
	active := []apiTarget{}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for pool, ts := range m.scrape.TargetsActive() {
		for _, t := range ts {
			lastErr := ""
			if err := t.LastError(); err != nil {
				lastErr = err.Error()
			}
			u := t.URL().String()
			active = append(active, apiTarget{
				DiscoveredLabels:   t.DiscoveredLabels(lb),
				Labels:             t.Labels(lb),
				ScrapePool:         pool,
				ScrapeURL:          u,
				GlobalURL:          u,
				LastError:          lastErr,
				LastScrape:         t.LastScrape(),
				LastScrapeDuration: t.LastScrapeDuration().Seconds(),
				Health:             string(t.Health()),
				ScrapeInterval:     t.GetValue("__scrape_interval__"),
				ScrapeTimeout:      t.GetValue("__scrape_timeout__"),
			})
		}
	}
	return result{data: map[string]any{"activeTargets": active, "droppedTargets": []any{}, "droppedTargetCounts": map[string]int{}}}, nil
}

// Rule and alert shapes of /api/v1/rules and /api/v1/alerts, as
// Prometheus renders them.
type (
	apiAlert struct {
		Labels          labels.Labels `json:"labels"`
		Annotations     labels.Labels `json:"annotations"`
		State           string        `json:"state"`
		ActiveAt        *time.Time    `json:"activeAt,omitempty"`
		KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
		Value           string        `json:"value"`
	}
	apiRuleGroup struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []any     `json:"rules"`
		Interval       float64   `json:"interval"`
		Limit          int       `json:"limit"`
		EvaluationTime float64   `json:"evaluationTime"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	apiAlertingRule struct {
		State          string           `json:"state"`
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Duration       float64          `json:"duration"`
		KeepFiringFor  float64          `json:"keepFiringFor"`
		Labels         labels.Labels    `json:"labels"`
		Annotations    labels.Labels    `json:"annotations"`
		Alerts         []*apiAlert      `json:"alerts"`
		Health         rules.RuleHealth `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
	}
	apiRecordingRule struct {
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Labels         labels.Labels    `json:"labels"`
		Health         rules.RuleHealth `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
	}
)

func toAPIAlerts(as []*rules.Alert) []*apiAlert {
	out := make([]*apiAlert, len(as))
	for i, a := range as {
		out[i] = &apiAlert{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State.String(),
			ActiveAt:    &a.ActiveAt,
			Value:       strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			out[i].KeepFiringSince = &a.KeepFiringSince
		}
	}
	return out
}

func (m *Monitor) ruleGroups() []*rules.Group {
	if m.opts.Rules == nil {
		return nil
	}
	return m.opts.Rules.RuleGroups()
}

func (m *Monitor) apiAlerts(*http.Request) (result, error) {
	alerts := []*apiAlert{}
	for _, g := range m.ruleGroups() {
		for _, ar := range g.AlertingRules() {
			alerts = append(alerts, toAPIAlerts(ar.ActiveAlerts())...)
		}
	}
	return result{data: map[string]any{"alerts": alerts}}, nil
}

// apiRules renders rule groups with Prometheus's filters: type,
// rule_name[], rule_group[], file[], match[], exclude_alerts.
func (m *Monitor) apiRules(r *http.Request) (result, error) {
	set := func(vs []string) map[string]bool {
		s := map[string]bool{}
		for _, v := range vs {
			s[v] = true
		}
		return s
	}
	names, groups, files := set(r.Form["rule_name[]"]), set(r.Form["rule_group[]"]), set(r.Form["file[]"])
	var matchers [][]*labels.Matcher
	if len(r.Form["match[]"]) > 0 {
		var err error
		if matchers, err = m.matcherSets(r); err != nil {
			return result{}, err
		}
	}
	typ := strings.ToLower(r.URL.Query().Get("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		return result{}, badParam("type", fmt.Errorf("not supported value %q", typ))
	}
	excl := strings.ToLower(r.URL.Query().Get("exclude_alerts"))
	if excl != "" && excl != "true" && excl != "false" {
		return result{}, badParam("exclude_alerts", errors.New("must be true or false"))
	}
	out := []*apiRuleGroup{}
	for _, g := range m.ruleGroups() {
		if (len(groups) > 0 && !groups[g.Name()]) || (len(files) > 0 && !files[g.File()]) {
			continue
		}
		ag := &apiRuleGroup{
			Name: g.Name(), File: g.File(), Rules: []any{},
			Interval: g.Interval().Seconds(), Limit: g.Limit(),
			EvaluationTime: g.GetEvaluationTime().Seconds(), LastEvaluation: g.GetLastEvaluation(),
		}
		for _, rr := range g.Rules(matchers...) {
			if len(names) > 0 && !names[rr.Name()] {
				continue
			}
			lastErr := ""
			if err := rr.LastError(); err != nil {
				lastErr = err.Error()
			}
			switch rule := rr.(type) {
			case *rules.AlertingRule:
				if typ == "record" {
					continue
				}
				var alerts []*apiAlert
				if excl != "true" {
					alerts = toAPIAlerts(rule.ActiveAlerts())
				}
				ag.Rules = append(ag.Rules, apiAlertingRule{
					State: rule.State().String(), Name: rule.Name(), Query: rule.Query().String(),
					Duration: rule.HoldDuration().Seconds(), KeepFiringFor: rule.KeepFiringFor().Seconds(),
					Labels: rule.Labels(), Annotations: rule.Annotations(), Alerts: alerts,
					Health: rule.Health(), LastError: lastErr,
					EvaluationTime: rule.GetEvaluationDuration().Seconds(), LastEvaluation: rule.GetEvaluationTimestamp(),
					Type: "alerting",
				})
			case *rules.RecordingRule:
				if typ == "alert" {
					continue
				}
				ag.Rules = append(ag.Rules, apiRecordingRule{
					Name: rule.Name(), Query: rule.Query().String(), Labels: rule.Labels(),
					Health: rule.Health(), LastError: lastErr,
					EvaluationTime: rule.GetEvaluationDuration().Seconds(), LastEvaluation: rule.GetEvaluationTimestamp(),
					Type: "recording",
				})
			}
		}
		if len(ag.Rules) > 0 {
			out = append(out, ag)
		}
	}
	return result{data: map[string]any{"groups": out}}, nil
}
