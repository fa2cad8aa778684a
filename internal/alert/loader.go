package alert

import (
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
)

// memLoader serves rule groups already built or parsed, keyed by the
// "file" they are shown under, to the rules manager.
type memLoader struct {
	files  map[string][]rulefmt.RuleGroup
	parser parser.Parser
}

var _ rules.GroupLoader = (*memLoader)(nil)

// Load implements rules.GroupLoader.
func (l *memLoader) Load(identifier string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	g, ok := l.files[identifier]
	if !ok {
		return nil, []error{fmt.Errorf("%s: no such rule source", identifier)}
	}
	return &rulefmt.RuleGroups{Groups: g}, nil
}

// Parse implements rules.GroupLoader.
func (l *memLoader) Parse(query string) (parser.Expr, error) {
	return l.parser.ParseExpr(query)
}
