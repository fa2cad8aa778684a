package alert

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/tugdev/tug/internal/config"
)

func TestSeverityMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"P0", "P0", true}, {"critical", "P0", true}, {"CRITICAL", "P0", true},
		{"P1", "P1", true}, {"high", "P1", true},
		{"P2", "P2", true}, {"warning", "P2", true},
		{"P3", "P3", true}, {"info", "P3", true}, {"p3", "P3", true},
		{"page", "page", false}, {"", "", false},
	} {
		got, ok := Severity(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Severity(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if SeverityName("P1") != "high" || SeverityName("x") != "x" {
		t.Errorf("SeverityName wrong")
	}
	// Alerts of tug.yaml carry the P form as their severity label.
	c := webService(nil, rule("A", "up == 0", "high", 0), &config.AlertRule{Alert: "B", Expr: "up == 0"})
	gs := ConfigGroups(c, nil)
	if got := gs[0].Rules[0].Labels["severity"]; got != "P1" {
		t.Errorf("severity high became %q, want P1", got)
	}
	if got := gs[0].Rules[1].Labels["severity"]; got != DefaultSeverity {
		t.Errorf("missing severity became %q, want %s", got, DefaultSeverity)
	}
}

func TestDefaultPacks(t *testing.T) {
	t.Parallel()
	off := false
	c := webService(nil)
	c.Services["api"] = &config.Service{Run: "./api", DefaultAlerts: &off}
	c.ServiceOrder = append(c.ServiceOrder, "api")
	names := map[string][]string{}
	for _, g := range ConfigGroups(c, nil) {
		for _, r := range g.Rules {
			names[g.Name] = append(names[g.Name], r.Alert)
		}
	}
	if got := strings.Join(names["default:web"], ","); got != "HighErrorRate,HighLatency,InstanceDown,CrashLooping,VulnerableRelease,VulnerableRelease" {
		t.Errorf("web pack = %s", got)
	}
	if got := strings.Join(names["default:hosts"], ","); got != "HighCPU,DiskSpaceLow" {
		t.Errorf("host pack = %s", got)
	}
	if _, ok := names["default:api"]; ok {
		t.Errorf("api has default_alerts: false but got a pack")
	}
	c.Monitoring.DefaultAlerts = &off
	if gs := ConfigGroups(c, nil); len(gs) != 0 {
		t.Errorf("monitoring.default_alerts: false still gives %d groups", len(gs))
	}
	p := ServicePack("web")
	if p[0].Expr != `service:error_ratio:rate5m{service="web"} > 0.05` || time.Duration(p[0].For) != 5*time.Minute || p[0].Labels["severity"] != "P0" {
		t.Errorf("HighErrorRate = %+v", p[0])
	}
	if p[2].Expr != `tug_instance_up{service="web"} == 0` || p[2].Labels["severity"] != "P1" {
		t.Errorf("InstanceDown = %+v", p[2])
	}
}

func TestSLORuleGeneration(t *testing.T) {
	t.Parallel()
	got := SLORules("web", config.SLO{Availability: 99.9, Window: config.Duration(30 * 24 * time.Hour)},
		map[string]bool{"service:error_ratio:rate5m": true})
	var lines []string
	for _, r := range got {
		if r.Record != "" {
			lines = append(lines, "record "+r.Record+" = "+r.Expr)
		} else {
			lines = append(lines, "alert "+r.Alert+" "+r.Labels["severity"]+" = "+r.Expr)
		}
	}
	want := []string{
		`record service:error_ratio:rate1h = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[1h])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[1h]))`,
		`record service:error_ratio:rate30m = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[30m])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[30m]))`,
		`record service:error_ratio:rate6h = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[6h])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[6h]))`,
		`record service:error_ratio:rate2h = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[2h])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[2h]))`,
		`record service:error_ratio:rate1d = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[1d])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[1d]))`,
		`record service:error_ratio:rate3d = sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[3d])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[3d]))`,
		`alert ErrorBudgetBurn P1 = service:error_ratio:rate1h{service="web"} > (14.4 * (1 - 99.9 / 100)) and service:error_ratio:rate5m{service="web"} > (14.4 * (1 - 99.9 / 100))`,
		`alert ErrorBudgetBurn P1 = service:error_ratio:rate6h{service="web"} > (6 * (1 - 99.9 / 100)) and service:error_ratio:rate30m{service="web"} > (6 * (1 - 99.9 / 100))`,
		`alert ErrorBudgetBurn P2 = service:error_ratio:rate1d{service="web"} > (3 * (1 - 99.9 / 100)) and service:error_ratio:rate2h{service="web"} > (3 * (1 - 99.9 / 100))`,
		`alert ErrorBudgetBurn P2 = service:error_ratio:rate3d{service="web"} > (1 * (1 - 99.9 / 100)) and service:error_ratio:rate6h{service="web"} > (1 * (1 - 99.9 / 100))`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("SLO rules:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// Every generated rule is valid PromQL, loaded by the engine.
	c := webService(nil)
	c.Services["web"].SLO = &config.SLO{Availability: 99.9}
	h := newHarness(t, c, nil)
	found := false
	for _, g := range h.engine.RuleGroups() {
		if g.Name() == "slo:web" && len(g.Rules()) == 10 {
			found = true
		}
	}
	if !found {
		t.Fatalf("slo:web group not loaded with 10 rules")
	}
}

// TestSLOBurnAndBudget: 2% errors against a 99.9% SLO burn the budget 20x:
// the fast-burn page fires, and the remaining budget is negative.
func TestSLOBurnAndBudget(t *testing.T) {
	t.Parallel()
	c := webService(nil)
	c.Services["web"].SLO = &config.SLO{Availability: 99.9, Window: config.Duration(time.Hour)}
	c.Services["web"].DefaultAlerts = new(bool)
	h := newHarness(t, c, nil)
	errPct := 0.0
	h.traffic(10, &errPct)
	h.step(20)
	b, err := h.engine.ErrorBudget(t.Context(), "web")
	if err != nil || b.Remaining != 1 || b.Window != time.Hour {
		t.Fatalf("healthy budget = %+v, %v", b, err)
	}
	errPct = 2
	h.stepUntil(120, "fast burn firing", func() bool {
		for _, a := range h.engine.Alerts() {
			if a.Name == BurnAlertName && a.Labels["long_window"] == "1h" && a.State == StateFiring {
				return true
			}
		}
		return false
	})
	b, err = h.engine.ErrorBudget(t.Context(), "web")
	if err != nil || b.Remaining >= 0 || b.ErrorRatio <= 0.001 {
		t.Fatalf("burning budget = %+v, %v", b, err)
	}
	if _, err := h.engine.ErrorBudget(t.Context(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("budget of unknown service: %v", err)
	}
}

func TestRuleFileLoading(t *testing.T) {
	t.Parallel()
	rfs, err := LoadRuleFiles("testdata/rules", []string{"good.yml"})
	if err != nil {
		t.Fatal(err)
	}
	r := rfs[0].Groups[0].Rules[1]
	if r.Alert != "ManyErrors" || r.Labels["severity"] != "P0" || time.Duration(r.KeepFiringFor) != 2*time.Minute {
		t.Fatalf("rule = %+v", r)
	}
	for _, tc := range []struct{ file, want string }{
		{"bad_expr.yml", "testdata/rules/bad_expr.yml:7:15: group \"broken\", rule 2, \"Broken\": could not parse expression"},
		{"bad_yaml.yml", "testdata/rules/bad_yaml.yml:5: field exprr not found"},
		{"missing*.yml", `alert_files[0]: "missing*.yml" matches no file`},
	} {
		_, err := LoadRuleFiles("testdata/rules", []string{tc.file})
		if err == nil || !errors.Is(err, ErrRuleFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.file, err, tc.want)
		}
	}
	// Through the engine: files are evaluated with the rest.
	c := webService(nil)
	c.AlertFiles = []string{"rules/good.yml"}
	h := newHarness(t, c, func(o *Options) { o.Dir = "testdata" })
	var files []string
	for _, g := range h.engine.RuleGroups() {
		files = append(files, g.File()+"#"+g.Name())
	}
	if !strings.Contains(strings.Join(files, " "), "testdata/rules/good.yml#example") {
		t.Fatalf("groups = %v", files)
	}
	c.AlertFiles = []string{"rules/bad_expr.yml"}
	_, err = New(context.Background(), Options{Config: c, Dir: "testdata", Queryable: h.db, Appendable: h.db, QueryEngine: newQueryEngine()})
	if err == nil || !strings.Contains(err.Error(), "bad_expr.yml:7:15") {
		t.Fatalf("New with a bad rule file: %v", err)
	}
}

func TestBadConfigExpr(t *testing.T) {
	t.Parallel()
	db := newTSDB(t)
	c := webService(nil, rule("Oops", "rate(x[5m]", "P1", 0))
	c.File = "/repo/tug.yaml"
	_, err := New(context.Background(), Options{Config: c, Queryable: db, Appendable: db, QueryEngine: newQueryEngine()})
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "/repo/tug.yaml: alerts[0].expr (Oops)") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseMatchers(t *testing.T) {
	t.Parallel()
	ms, err := ParseMatchers(`alertname=HighErrorRate, service=~"web.*",env!="dev",x!~"a,b"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := ms.String(); got != `alertname="HighErrorRate",service=~"web.*",env!="dev",x!~"a,b"` {
		t.Errorf("String = %s", got)
	}
	if !ms.Matches(map[string]string{"alertname": "HighErrorRate", "service": "web-eu", "env": "prod", "x": "c"}) {
		t.Errorf("should match")
	}
	if ms.Matches(map[string]string{"alertname": "HighErrorRate", "service": "api-web", "env": "prod"}) {
		t.Errorf("regex must be anchored")
	}
	for _, bad := range []string{"", "alertname", `a="x`, "a=~(", "1a=b", "=b"} {
		if _, err := ParseMatchers(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMatchers(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

var _ = rulefmt.RuleGroup{}
