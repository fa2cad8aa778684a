package metrics

import (
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// famSet builds metric families by hand for the in-process collectors,
// keeping first-seen order.
type famSet struct {
	byName map[string]*dto.MetricFamily
	order  []*dto.MetricFamily
}

func newFamSet() *famSet { return &famSet{byName: map[string]*dto.MetricFamily{}} }

// add appends one sample of a counter or gauge family; kv are label
// name/value pairs.
func (s *famSet) add(name, help string, typ dto.MetricType, v float64, kv ...string) {
	mf := s.byName[name]
	if mf == nil {
		mf = &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: typ.Enum()}
		s.byName[name] = mf
		s.order = append(s.order, mf)
	}
	m := &dto.Metric{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	switch typ {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: proto.Float64(v)}
	default:
		m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
	}
	mf.Metric = append(mf.Metric, m)
}

func (s *famSet) counter(name, help string, v float64, kv ...string) {
	s.add(name, help, dto.MetricType_COUNTER, v, kv...)
}

func (s *famSet) gauge(name, help string, v float64, kv ...string) {
	s.add(name, help, dto.MetricType_GAUGE, v, kv...)
}

func (s *famSet) families() []*dto.MetricFamily { return s.order }
