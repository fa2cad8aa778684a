package incident

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Impact is what an incident cost, as the post-mortem reports it.
type Impact struct {
	// From and Until bound the impact: from the suspected cause (or the
	// first alert's start) to the resolution (or now).
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// FailedRequests are the 5xx answers the proxy gave for the service
	// in that time; -1 when they cannot be counted.
	FailedRequests float64 `json:"failed_requests"`
	// BudgetSpent is the share of the SLO's error budget they spent
	// (0.25 is a quarter); nil without an SLO or traffic to judge by.
	BudgetSpent *float64 `json:"budget_spent,omitempty"`
	Routes      []string `json:"routes,omitempty"`
}

// Postmortem is a blameless post-mortem draft of an incident, in Markdown.
type Postmortem struct {
	Incident int64  `json:"incident"`
	Impact   Impact `json:"impact"`
	Markdown string `json:"markdown"`
}

// Postmortem writes the post-mortem draft of incident id: summary,
// impact (duration, failed requests from the proxy's metrics, error
// budget spent), timeline, suspected cause, what was done and by whom,
// and follow-up actions as a checklist.
func (m *Manager) Postmortem(ctx context.Context, id int64) (*Postmortem, error) {
	inc, err := m.Show(ctx, id)
	if err != nil {
		return nil, err
	}
	_, cfg := m.settings()
	imp := m.impact(ctx, inc, cfg)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	dur := func(p *float64) string {
		if p == nil {
			return "not reached"
		}
		return round(time.Duration(*p * float64(time.Second))).String()
	}

	w("# Post-mortem: incident #%d, %s\n\n", inc.ID, inc.Title)
	w("_Draft written by tug on %s. Blameless: it says what happened and what the system allowed, not who is to blame. Edit it, then close it with `tug incident postmortem %d --close`._\n\n", ts(m.now()), inc.ID)

	w("## Summary\n\n")
	where := "no single service"
	if inc.Service != "" {
		where = inc.Service
		if inc.Environment != "" {
			where += " (" + inc.Environment + ")"
		}
	}
	w("A %s incident on %s: %s. ", inc.Severity, where, inc.Title)
	first := "opened by " + inc.OpenedBy
	if len(inc.Alerts) > 0 {
		first = "detected by tug when " + inc.Alerts[0].Name + " fired"
	}
	w("It was %s at %s", first, ts(inc.OpenedAt))
	if inc.AcknowledgedAt != nil {
		w(", acknowledged by %s at %s", inc.AcknowledgedBy, ts(*inc.AcknowledgedAt))
	}
	if inc.ResolvedAt != nil {
		w(", and resolved by %s at %s", inc.ResolvedBy, ts(*inc.ResolvedAt))
	} else {
		w(", and is not resolved yet")
	}
	w(".\n\n")
	w("| measure | value |\n|---|---|\n")
	w("| time to acknowledge | %s |\n| time to mitigate | %s |\n| time to resolve | %s |\n\n", dur(inc.TimeToAcknowledge), dur(inc.TimeToMitigate), dur(inc.TimeToResolve))

	w("## Impact\n\n")
	w("- Duration: %s, from %s to %s.\n", round(imp.Until.Sub(imp.From)), ts(imp.From), ts(imp.Until))
	switch {
	case imp.FailedRequests < 0:
		w("- Failed requests: could not be counted (no metrics of the proxy).\n")
	default:
		routes := ""
		if len(imp.Routes) > 0 {
			routes = " (routes " + strings.Join(imp.Routes, ", ") + ")"
		}
		w("- Failed requests: %s answered 5xx by the proxy for %s%s.\n", strconv.FormatFloat(math.Round(imp.FailedRequests), 'f', 0, 64), orNoService(inc.Service), routes)
	}
	if s := sloOf(cfg, inc.Service); s == nil {
		w("- Error budget: %s declares no SLO.\n", orNoService(inc.Service))
	} else if imp.BudgetSpent == nil {
		w("- Error budget: not measurable (no traffic over the SLO's window).\n")
	} else {
		w("- Error budget: %.1f%% of the %s budget of its %.2f%% availability objective spent.\n", *imp.BudgetSpent*100, sloWindow(s), s.Availability)
	}
	if inc.Impact != "" {
		w("- As triaged: %s\n", inc.Impact)
	}
	w("\n")

	w("## Timeline\n\n| time (UTC) | kind | what | by |\n|---|---|---|---|\n")
	for _, e := range inc.Timeline {
		w("| %s | %s | %s | %s |\n", e.Time.UTC().Format("15:04:05"), e.Kind, cell(e.Text), cell(orDash(e.Who)))
	}
	w("\n")

	w("## Suspected cause\n\n")
	if c := inc.SuspectedCause; c != nil {
		w("%s, at %s, shortly before the first alert. Confirm or correct this: tug names the deploy that started last before the incident, which is the usual cause but not a proof.\n\n", c.Text, ts(c.Time))
	} else {
		w("tug found no deploy of %s in the hour before the first alert. Fill in what caused it.\n\n", orNoService(inc.Service))
	}

	w("## What was done\n\n")
	did := 0
	for _, e := range inc.Timeline {
		switch e.Kind {
		case KindRemediation, KindRunbookStep, KindRollback, KindScale:
		case KindState:
			if e.Who == "" || strings.HasPrefix(e.Text, "detected") {
				continue
			}
		default:
			continue
		}
		did++
		who := e.Who
		if who == Tug {
			who = "tug, on its own"
		}
		w("- %s, by %s: %s\n", e.Time.UTC().Format("15:04:05"), orDash(who), e.Text)
	}
	if did == 0 {
		w("- Nothing is recorded.\n")
	}
	w("\n")

	w("## Follow-up actions\n\n")
	if c := inc.SuspectedCause; c != nil && c.Release != "" {
		w("- [ ] Find why release %s failed and fix it before deploying again\n", c.Release)
		w("- [ ] Make the canary analysis (or a test) catch this failure before all traffic moves\n")
	} else {
		w("- [ ] Find the cause and fix it\n")
	}
	if inc.TimeToAcknowledge == nil || *inc.TimeToAcknowledge > 15*60 {
		w("- [ ] Review the paging: the incident was not acknowledged quickly\n")
	}
	w("- [ ] Check that the alert fired early enough, and that its runbook helped\n")
	w("- [ ] Share this post-mortem, then close it: `tug incident postmortem %d --close`\n", inc.ID)
	return &Postmortem{Incident: inc.ID, Impact: imp, Markdown: b.String()}, nil
}

func orNoService(s string) string {
	if s == "" {
		return "the affected services"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func sloOf(c *config.Config, service string) *config.SLO {
	if s := c.Services[service]; s != nil && s.SLO != nil && s.SLO.Availability > 0 {
		return s.SLO
	}
	return nil
}

func sloWindow(s *config.SLO) time.Duration {
	if s.Window > 0 {
		return s.Window.D()
	}
	return 30 * 24 * time.Hour
}

// impact measures an incident from the proxy's metrics.
func (m *Manager) impact(ctx context.Context, inc *Incident, cfg *config.Config) Impact {
	imp := Impact{From: inc.OpenedAt, Until: m.now(), FailedRequests: -1}
	if inc.ResolvedAt != nil {
		imp.Until = *inc.ResolvedAt
	}
	if rec, err := m.get(ctx, inc.ID); err == nil {
		if d, err := decodeData(rec); err == nil {
			imp.From = startOf(rec, d)
		}
	}
	if s := cfg.Services[inc.Service]; s != nil {
		imp.Routes = s.Routes
		if e := s.Environments[inc.Environment]; e != nil && len(e.Routes) > 0 {
			imp.Routes = e.Routes
		}
	}
	if m.o.Query == nil || inc.Service == "" {
		return imp
	}
	sel := fmt.Sprintf(`tug_proxy_requests_total{service=%q,code=~"5.."`, inc.Service)
	if inc.Environment != "" {
		sel += fmt.Sprintf(`,environment=%q`, inc.Environment)
	}
	sel += "}"
	if failed, err := m.o.Query(ctx, increaseExpr(sel, imp.From, imp.Until, m.now())); err == nil {
		imp.FailedRequests = math.Max(0, failed)
	} else {
		m.log.Warn("post-mortem: counting failed requests", "incident", inc.ID, "err", err)
	}
	if s := sloOf(cfg, inc.Service); s != nil && imp.FailedRequests >= 0 {
		total, err := m.o.Query(ctx, fmt.Sprintf(`sum(increase(tug_proxy_requests_total{service=%q}[%s])) or vector(0)`, inc.Service, promDuration(sloWindow(s))))
		allowed := (1 - s.Availability/100) * total
		if err == nil && allowed > 0 {
			spent := imp.FailedRequests / allowed
			imp.BudgetSpent = &spent
		}
	}
	return imp
}

// increaseExpr counts how much the counters sel selects grew between
// from and until, evaluated at now: each series' last value in the
// window minus its last value before it (a series born in the window
// counts whole, which increase() would not do).
func increaseExpr(sel string, from, until, now time.Time) string {
	w := promDuration(max(until.Sub(from), time.Second))
	off := promDuration(max(now.Sub(until), 0))
	before := promDuration(max(now.Sub(from), 0))
	end := fmt.Sprintf("last_over_time(%s[%s] offset %s)", sel, w, off)
	start := fmt.Sprintf("last_over_time(%s[5m] offset %s)", sel, before)
	return fmt.Sprintf("sum(%s - %s or %s) or vector(0)", end, start, end)
}

// promDuration writes d in PromQL's syntax, to the millisecond.
func promDuration(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
