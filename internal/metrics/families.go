package metrics

import (
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// seriesSet is the label sets appended in one collection, by hash, so the
// next collection can mark the ones that vanished as stale.
type seriesSet map[uint64]labels.Labels

// familyAppender turns metric families into TSDB samples the way a scrape
// of their text exposition would: counters, gauges and untyped as one
// series; summaries as quantile series plus _sum and _count; histograms as
// _bucket (le formatted as Prometheus 3 normalises it), _sum and _count.
// Labels of a sample win over the target's (honor_labels semantics, so the
// proxy's and the runtime's service/instance labels are kept).
type familyAppender struct {
	app    storage.AppenderV2
	target labels.Labels
	t      int64
	seen   seriesSet
	b      *labels.Builder
	family string
	// n counts samples appended, failed the samples the TSDB refused.
	n, failed int
}

func newFamilyAppender(app storage.AppenderV2, target labels.Labels, t int64, seen seriesSet) *familyAppender {
	return &familyAppender{app: app, target: target, t: t, seen: seen, b: labels.NewBuilder(labels.EmptyLabels())}
}

// families appends every family and returns their metadata by name.
func (fa *familyAppender) families(fams []*dto.MetricFamily, meta map[string]metadata.Metadata) {
	for _, mf := range fams {
		name := mf.GetName()
		fa.family = name
		md := metadata.Metadata{Type: metricType(mf.GetType()), Help: mf.GetHelp(), Unit: mf.GetUnit()}
		if meta != nil {
			meta[name] = md
		}
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				fa.add(name, md, m, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				fa.add(name, md, m, m.GetGauge().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					fa.add(name, md, m, q.GetValue(), model.QuantileLabel, labels.FormatOpenMetricsFloat(q.GetQuantile()))
				}
				fa.add(name+"_sum", md, m, s.GetSampleSum())
				fa.add(name+"_count", md, m, float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				sawInf := false
				for _, bk := range h.GetBucket() {
					ub := bk.GetUpperBound()
					sawInf = sawInf || math.IsInf(ub, +1)
					fa.add(name+"_bucket", md, m, float64(bk.GetCumulativeCount()), model.BucketLabel, labels.FormatOpenMetricsFloat(ub))
				}
				if !sawInf {
					fa.add(name+"_bucket", md, m, float64(h.GetSampleCount()), model.BucketLabel, "+Inf")
				}
				fa.add(name+"_sum", md, m, h.GetSampleSum())
				fa.add(name+"_count", md, m, float64(h.GetSampleCount()))
			default:
				fa.add(name, md, m, m.GetUntyped().GetValue())
			}
		}
	}
}

func (fa *familyAppender) add(name string, md metadata.Metadata, m *dto.Metric, v float64, extra ...string) {
	fa.b.Reset(fa.target)
	for _, lp := range m.GetLabel() {
		fa.b.Set(lp.GetName(), lp.GetValue())
	}
	for i := 0; i+1 < len(extra); i += 2 {
		fa.b.Set(extra[i], extra[i+1])
	}
	fa.b.Set(model.MetricNameLabel, name)
	fa.append(fa.b.Labels(), v, md)
}

// append writes one sample and remembers its series.
func (fa *familyAppender) append(ls labels.Labels, v float64, md metadata.Metadata) {
	if _, err := fa.app.Append(0, ls, 0, fa.t, v, nil, nil, storage.AOptions{Metadata: md, MetricFamilyName: fa.family}); err != nil {
		fa.failed++
		return
	}
	fa.n++
	if fa.seen != nil {
		fa.seen[ls.Hash()] = ls
	}
}

// sortFamilies orders families by name, as a scrape would see them.
func sortFamilies(fams []*dto.MetricFamily) {
	sort.Slice(fams, func(i, j int) bool { return fams[i].GetName() < fams[j].GetName() })
}

func metricType(t dto.MetricType) model.MetricType {
	switch t {
	case dto.MetricType_COUNTER:
		return model.MetricTypeCounter
	case dto.MetricType_GAUGE:
		return model.MetricTypeGauge
	case dto.MetricType_SUMMARY:
		return model.MetricTypeSummary
	case dto.MetricType_HISTOGRAM:
		return model.MetricTypeHistogram
	case dto.MetricType_GAUGE_HISTOGRAM:
		return model.MetricTypeGaugeHistogram
	default:
		return model.MetricTypeUnknown
	}
}
