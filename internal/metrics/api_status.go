package metrics

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/tugdev/tug/internal/endpoint"
)

// PrometheusVersion is the Prometheus release whose engine and TSDB tug
// embeds (module v0.316.0); buildinfo reports it so Grafana enables the
// matching query features.
const PrometheusVersion = "3.16.0"

// Parameters and data of the status, metadata, rules, alerts and targets
// endpoints, as Prometheus names them.
type (
	// MetadataParams are metadata's.
	MetadataParams struct {
		Limit          string `query:"limit" doc:"at most this many metrics"`
		LimitPerMetric string `query:"limit_per_metric"`
		Metric         string `query:"metric" doc:"only this metric"`
	}
	// RulesParams filter rules.
	RulesParams struct {
		Type          string   `query:"type" doc:"alert or record"`
		RuleName      []string `query:"rule_name[]"`
		RuleGroup     []string `query:"rule_group[]"`
		File          []string `query:"file[]"`
		Match         []string `query:"match[]"`
		ExcludeAlerts string   `query:"exclude_alerts"`
	}
	// TSDBParams bound status/tsdb's lists.
	TSDBParams struct {
		Limit string `query:"limit" doc:"entries per list (default 10, at most 10000)"`
	}
	// RuntimeInfo is status/runtimeinfo's data.
	RuntimeInfo struct {
		StartTime           time.Time `json:"startTime"`
		CWD                 string    `json:"CWD"`
		ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
		LastConfigTime      time.Time `json:"lastConfigTime"`
		CorruptionCount     int       `json:"corruptionCount"`
		GoroutineCount      int       `json:"goroutineCount"`
		GOMAXPROCS          int       `json:"GOMAXPROCS"`
		GOGC                string    `json:"GOGC"`
		GODEBUG             string    `json:"GODEBUG"`
		StorageRetention    string    `json:"storageRetention"`
	}
	// ConfigData is status/config's data.
	ConfigData struct {
		YAML string `json:"yaml"`
	}
	// TSDBData is status/tsdb's data.
	TSDBData struct {
		HeadStats                   HeadStats  `json:"headStats"`
		SeriesCountByMetricName     []TSDBStat `json:"seriesCountByMetricName"`
		LabelValueCountByLabelName  []TSDBStat `json:"labelValueCountByLabelName"`
		MemoryInBytesByLabelName    []TSDBStat `json:"memoryInBytesByLabelName"`
		SeriesCountByLabelValuePair []TSDBStat `json:"seriesCountByLabelValuePair"`
	}
	// HeadStats are the head block's totals.
	HeadStats struct {
		NumSeries     uint64 `json:"numSeries"`
		NumLabelPairs int    `json:"numLabelPairs"`
		ChunkCount    int64  `json:"chunkCount"`
		MinTime       int64  `json:"minTime"`
		MaxTime       int64  `json:"maxTime"`
	}
	// TargetsData is targets' data.
	TargetsData struct {
		ActiveTargets       []ScrapeTarget `json:"activeTargets"`
		DroppedTargets      []ScrapeTarget `json:"droppedTargets"`
		DroppedTargetCounts map[string]int `json:"droppedTargetCounts"`
	}
	// AlertsData is alerts' data.
	AlertsData struct {
		Alerts []*apiAlert `json:"alerts"`
	}
	// RulesData is rules' data.
	RulesData struct {
		Groups []*apiRuleGroup `json:"groups"`
	}
)

func (m *Monitor) apiExemplars(context.Context, ExemplarParams) (result, error) {
	return result{data: []any{}}, nil
}

func (m *Monitor) apiBuildInfo(context.Context, endpoint.None) (result, error) {
	return result{data: map[string]string{
		"version":   PrometheusVersion,
		"revision":  cmpOr(m.opts.Version, "unknown"),
		"branch":    "tug",
		"buildUser": "tug",
		"buildDate": "",
		"goVersion": goruntime.Version(),
	}}, nil
}

func (m *Monitor) apiRuntimeInfo(context.Context, endpoint.None) (result, error) {
	return result{data: RuntimeInfo{
		StartTime:           m.start,
		ReloadConfigSuccess: true,
		LastConfigTime:      m.start,
		GoroutineCount:      goruntime.NumGoroutine(),
		GOMAXPROCS:          goruntime.GOMAXPROCS(0),
		StorageRetention:    m.Retention().String(),
	}}, nil
}

// apiConfig is the Prometheus configuration tug derived from tug.yaml
// and applied to its scrape manager last.
func (m *Monitor) apiConfig(context.Context, endpoint.None) (result, error) {
	m.mu.Lock()
	cfg := m.lastPromCfg
	m.mu.Unlock()
	return result{data: ConfigData{YAML: cfg}}, nil
}

// apiFlags answers with the Prometheus flags tug's settings stand for.
func (m *Monitor) apiFlags(context.Context, endpoint.None) (result, error) {
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

// TSDBStat is one row of status/tsdb's cardinality lists.
type TSDBStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// apiTSDB reports the head block's cardinality, Prometheus's
// status/tsdb: what to look at when series multiply.
func (m *Monitor) apiTSDB(_ context.Context, p TSDBParams) (result, error) {
	limit := 10
	if s := p.Limit; s != "" {
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
	rows := func(in []index.Stat) []TSDBStat {
		out := make([]TSDBStat, len(in))
		for i, s := range in {
			out[i] = TSDBStat{s.Name, s.Count}
		}
		return out
	}
	ps := st.IndexPostingStats
	return result{data: TSDBData{
		HeadStats: HeadStats{
			NumSeries:     st.NumSeries,
			NumLabelPairs: ps.NumLabelPairs,
			ChunkCount:    m.headChunks(),
			MinTime:       st.MinTime,
			MaxTime:       st.MaxTime,
		},
		SeriesCountByMetricName:     rows(ps.CardinalityMetricsStats),
		LabelValueCountByLabelName:  rows(ps.CardinalityLabelStats),
		MemoryInBytesByLabelName:    rows(ps.LabelValueStats),
		SeriesCountByLabelValuePair: rows(ps.LabelValuePairsStats),
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
func (m *Monitor) apiMetadata(_ context.Context, p MetadataParams) (result, error) {
	limit, perMetric := -1, -1
	for _, v := range []struct {
		name, s string
		n       *int
	}{{"limit", p.Limit, &limit}, {"limit_per_metric", p.LimitPerMetric, &perMetric}} {
		if v.s != "" {
			n, err := strconv.Atoi(v.s)
			if err != nil {
				return result{}, badData("%s must be a number", v.name)
			}
			*v.n = n
		}
	}
	metric := p.Metric
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

// ScrapeTarget is one entry of /api/v1/targets.
type ScrapeTarget struct {
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

func (m *Monitor) apiTargets(context.Context, endpoint.None) (result, error) {
	active := []ScrapeTarget{}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for pool, ts := range m.scrape.TargetsActive() {
		for _, t := range ts {
			lastErr := ""
			if err := t.LastError(); err != nil {
				lastErr = err.Error()
			}
			u := t.URL().String()
			active = append(active, ScrapeTarget{
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
	return result{data: TargetsData{ActiveTargets: active, DroppedTargets: []ScrapeTarget{}, DroppedTargetCounts: map[string]int{}}}, nil
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

func (m *Monitor) apiAlerts(context.Context, endpoint.None) (result, error) {
	alerts := []*apiAlert{}
	for _, g := range m.ruleGroups() {
		for _, ar := range g.AlertingRules() {
			alerts = append(alerts, toAPIAlerts(ar.ActiveAlerts())...)
		}
	}
	return result{data: AlertsData{Alerts: alerts}}, nil
}

// apiRules renders rule groups with Prometheus's filters: type,
// rule_name[], rule_group[], file[], match[], exclude_alerts.
func (m *Monitor) apiRules(_ context.Context, p RulesParams) (result, error) {
	set := func(vs []string) map[string]bool {
		s := map[string]bool{}
		for _, v := range vs {
			s[v] = true
		}
		return s
	}
	names, groups, files := set(p.RuleName), set(p.RuleGroup), set(p.File)
	var matchers [][]*labels.Matcher
	if len(p.Match) > 0 {
		var err error
		if matchers, err = m.matcherSets(p.Match); err != nil {
			return result{}, err
		}
	}
	typ := strings.ToLower(p.Type)
	if typ != "" && typ != "alert" && typ != "record" {
		return result{}, badParam("type", fmt.Errorf("not supported value %q", typ))
	}
	excl := strings.ToLower(p.ExcludeAlerts)
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
	return result{data: RulesData{Groups: out}}, nil
}
