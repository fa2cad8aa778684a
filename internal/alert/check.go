package alert

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/config"
)

// Check builds from c everything New builds (channels, routes, the rule
// groups of tug.yaml, the default packs, SLOs and the rule files under
// dir, with recording as the extra recording groups) without storage,
// and returns the rule groups, or the error New would return. It is how
// `tug validate` and a config reload refuse what the engine would.
func Check(ctx context.Context, c *config.Config, dir string, recording []rulefmt.RuleGroup) ([]*rules.Group, error) {
	e, err := New(ctx, Options{
		Config: c, Dir: dir, RecordingGroups: recording,
		Queryable: noStorage{}, Appendable: noStorage{}, QueryEngine: noStorage{},
	})
	if err != nil {
		return nil, err
	}
	return e.RuleGroups(), nil
}

// errNoStorage is what a checked engine answers if it were ever evaluated.
var errNoStorage = errors.New("alert: a checked engine has no storage")

// noStorage stands in for the TSDB and the query engine while checking.
type noStorage struct{}

func (noStorage) Querier(int64, int64) (storage.Querier, error) { return storage.NoopQuerier(), nil }

func (noStorage) AppenderV2(context.Context) storage.AppenderV2 { return noStorage{} }

func (noStorage) Append(storage.SeriesRef, labels.Labels, int64, int64, float64, *histogram.Histogram, *histogram.FloatHistogram, storage.AppendV2Options) (storage.SeriesRef, error) {
	return 0, errNoStorage
}

func (noStorage) Commit() error   { return nil }
func (noStorage) Rollback() error { return nil }

func (noStorage) NewInstantQuery(context.Context, storage.Queryable, promql.QueryOpts, string, time.Time) (promql.Query, error) {
	return nil, errNoStorage
}

func (noStorage) NewRangeQuery(context.Context, storage.Queryable, promql.QueryOpts, string, time.Time, time.Time, time.Duration) (promql.Query, error) {
	return nil, errNoStorage
}

var (
	_ storage.Queryable    = noStorage{}
	_ storage.AppendableV2 = noStorage{}
	_ promql.QueryEngine   = noStorage{}
)
