package alert

import (
	"testing"

	"github.com/tugdev/tug/internal/config"
)

// TestDefaultPacksNameRunbooks: every alert of the default packs and the
// SLO rules carries the runbook tug ships for it; a tug.yaml alert keeps
// its own.
func TestDefaultPacksNameRunbooks(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"HighErrorRate": "runbooks/high-error-rate.md", "HighCPU": "runbooks/high-cpu.md", "CPULoadHigh": "runbooks/cpu-load-high.md"} {
		if got := DefaultRunbook(name); got != want {
			t.Errorf("DefaultRunbook(%s) = %q, want %q", name, got, want)
		}
	}
	c := webService(nil, &config.AlertRule{Alert: "Mine", Expr: "up == 0", Runbook: "https://wiki/mine"})
	c.Services["web"].SLO = &config.SLO{Availability: 99.9}
	n := 0
	for _, g := range ConfigGroups(c, nil) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			want := DefaultRunbook(r.Alert)
			if r.Alert == "Mine" {
				want = "https://wiki/mine"
			}
			if r.Annotations["runbook"] != want {
				t.Errorf("%s: runbook %q, want %q", r.Alert, r.Annotations["runbook"], want)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d alerts seen", n)
	}
}
