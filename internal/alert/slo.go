package alert

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/tugdev/tug/internal/config"
)

// DefaultSLOWindow is the error-budget window of an SLO that names none.
const DefaultSLOWindow = 30 * 24 * time.Hour

// BurnAlertName is the alert the SLO burn-rate rules raise.
const BurnAlertName = "ErrorBudgetBurn"

// burnWindow is one multi-window burn-rate alert: it fires when the error
// ratio over both windows exceeds factor times the error budget.
type burnWindow struct {
	long, short string
	factor      string
	severity    string
}

// burnWindows are the Google SRE workbook's multi-window multi-burn-rate
// alerts: a page for fast burns, a ticket for slow ones.
func burnWindows() []burnWindow {
	return []burnWindow{
		{"1h", "5m", "14.4", "P1"},
		{"6h", "30m", "6", "P1"},
		{"1d", "2h", "3", "P2"},
		{"3d", "6h", "1", "P2"},
	}
}

// errorRatioRecord names the recording rule holding a service's error
// ratio over window (service:error_ratio:rate5m for 5m).
func errorRatioRecord(window string) string { return "service:error_ratio:rate" + window }

// errorRatioExpr is a service's share of failed (5xx) requests at the
// proxy over window.
func errorRatioExpr(service, window string) string {
	q := strconv.Quote(service)
	return fmt.Sprintf(`sum by (service) (rate(tug_proxy_requests_total{service=%s,code=~"5.."}[%s]))`+
		` / sum by (service) (rate(tug_proxy_requests_total{service=%s}[%s]))`, q, window, q, window)
}

// SLORules are the recording rules (the error ratios the metrics room does
// not record already, named in have) and the burn-rate alerts of one
// service's SLO.
func SLORules(service string, slo config.SLO, have map[string]bool) []rulefmt.Rule {
	var out []rulefmt.Rule
	seen := map[string]bool{}
	for _, w := range burnWindows() {
		for _, win := range []string{w.short, w.long} {
			name := errorRatioRecord(win)
			if have[name] || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, rulefmt.Rule{Record: name, Expr: errorRatioExpr(service, win)})
		}
	}
	avail := strconv.FormatFloat(slo.Availability, 'f', -1, 64)
	q := strconv.Quote(service)
	for _, w := range burnWindows() {
		threshold := fmt.Sprintf("(%s * (1 - %s / 100))", w.factor, avail)
		out = append(out, rulefmt.Rule{
			Alert: BurnAlertName,
			Expr: fmt.Sprintf("%s{service=%s} > %s and %s{service=%s} > %s",
				errorRatioRecord(w.long), q, threshold, errorRatioRecord(w.short), q, threshold),
			Labels: map[string]string{
				LabelSeverity:  w.severity,
				LabelService:   service,
				"slo":          avail,
				"long_window":  w.long,
				"short_window": w.short,
			},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("{{ $labels.service }} is burning its %s%% error budget %sx too fast (%s and %s windows)",
					avail, w.factor, w.long, w.short),
			},
		})
	}
	return out
}

// sloWindow is an SLO's budget window, defaulted.
func sloWindow(slo config.SLO) time.Duration {
	if slo.Window > 0 {
		return slo.Window.D()
	}
	return DefaultSLOWindow
}

// budgetExpr is the error ratio of a service over its whole SLO window.
func budgetExpr(service string, window time.Duration) string {
	q := strconv.Quote(service)
	w := model.Duration(window).String()
	return fmt.Sprintf(`sum(increase(tug_proxy_requests_total{service=%s,code=~"5.."}[%s]))`+
		` / sum(increase(tug_proxy_requests_total{service=%s}[%s]))`, q, w, q, w)
}
