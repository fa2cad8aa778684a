package alert

import (
	"maps"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/strutil"
)

// States an alert is reported in.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Alert is one instance of an alerting rule (one label set), as tug
// reports and routes it.
type Alert struct {
	// ID is the label set's fingerprint, as Alertmanager computes it.
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Severity string `json:"severity"`
	// SeverityName is the Prometheus-style name of Severity ("critical").
	SeverityName string            `json:"severity_name,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Value        float64           `json:"value"`
	// ActiveAt is when the condition started to hold (pending since).
	ActiveAt time.Time `json:"active_at"`
	// StartsAt is when the alert fired (zero while pending).
	StartsAt time.Time `json:"starts_at,omitzero"`
	// EndsAt is when it resolved (zero while active).
	EndsAt       time.Time `json:"ends_at,omitzero"`
	GeneratorURL string    `json:"generator_url,omitempty"`

	// Why a firing alert is not notified, if it is not.
	SilencedBy  []string `json:"silenced_by,omitempty"`
	InhibitedBy string   `json:"inhibited_by,omitempty"`
	AckedBy     string   `json:"acked_by,omitempty"`
}

// Fingerprint is the identity Alertmanager gives a label set.
func Fingerprint(lbls map[string]string) string {
	ls := make(model.LabelSet, len(lbls))
	for k, v := range lbls {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// fromRule converts the rules engine's view of an alert.
func fromRule(a *rules.Alert, expr, externalURL string) *Alert {
	lbls := a.Labels.Map()
	out := &Alert{
		ID:           Fingerprint(lbls),
		Name:         lbls[LabelAlertName],
		Labels:       lbls,
		Annotations:  a.Annotations.Map(),
		Value:        a.Value,
		ActiveAt:     a.ActiveAt.UTC(),
		GeneratorURL: generatorURL(externalURL, expr),
	}
	out.Severity, _ = Severity(lbls[LabelSeverity])
	out.SeverityName = SeverityName(out.Severity)
	switch {
	case !a.ResolvedAt.IsZero():
		out.State = StateResolved
		out.StartsAt = a.FiredAt.UTC()
		out.EndsAt = a.ResolvedAt.UTC()
		if a.FiredAt.IsZero() {
			out.StartsAt = out.ActiveAt
		}
	case a.State == rules.StateFiring:
		out.State = StateFiring
		out.StartsAt = a.FiredAt.UTC()
	default:
		out.State = StatePending
	}
	return out
}

// generatorURL links to the expression in a Prometheus-style graph page.
func generatorURL(externalURL, expr string) string {
	return strings.TrimRight(externalURL, "/") + strutil.TableLinkForExpression(expr)
}

// clone copies a so callers may keep it while the engine goes on.
func (a *Alert) clone() *Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	c.SilencedBy = append([]string(nil), a.SilencedBy...)
	return &c
}

// sortAlerts orders alerts by severity, then name, then labels.
func sortAlerts(as []*Alert) {
	type keyed struct {
		a    *Alert
		rank int
		lbls string
	}
	ks := make([]keyed, len(as))
	for i, a := range as {
		ks[i] = keyed{a, severityRank(a.Severity), labelString(a.Labels)}
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.a.Name != b.a.Name {
			return a.a.Name < b.a.Name
		}
		return a.lbls < b.lbls
	})
	for i := range ks {
		as[i] = ks[i].a
	}
}

// labelString prints a label set sorted, Prometheus style: {a="1", b="2"}.
func labelString(lbls map[string]string) string {
	keys := make([]string, 0, len(lbls))
	for k := range lbls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(quote(lbls[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// validExternalURL is u if it parses, else "".
func validExternalURL(u string) string {
	if u == "" {
		return ""
	}
	if _, err := url.Parse(u); err != nil {
		return ""
	}
	return u
}
