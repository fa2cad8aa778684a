package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// TestJudgeDrill: a drill that rebuilt everything fails when it took
// longer than dr.drill.rto; without the objective it is only measured.
func TestJudgeDrill(t *testing.T) {
	t.Parallel()
	with := &config.Config{DR: &config.DR{Drill: &config.DRDrill{RTO: config.Duration(time.Minute)}}}
	for _, tc := range []struct {
		cfg  *config.Config
		rto  float64
		want bool
	}{
		{with, 59, true},
		{with, 61, false},
		{&config.Config{}, 3600, true},
	} {
		res := drillResult{OK: true, RTOSeconds: tc.rto}
		judgeDrill(&res, tc.cfg)
		if res.OK != tc.want {
			t.Errorf("rto %vs: ok=%v, want %v (%s)", tc.rto, res.OK, tc.want, res.Error)
		}
		if !res.OK && !strings.Contains(res.Error, "longer than dr.drill.rto (1m0s)") {
			t.Errorf("error %q", res.Error)
		}
	}
}
