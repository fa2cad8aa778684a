package deploy

import (
	"context"

	"github.com/tugdev/tug/internal/runtime"
)

// probe runs one health check of p against addr; see runtime.Probe.
func probe(ctx context.Context, p *plan, addr string) (string, bool) {
	return runtime.Probe(ctx, addr, p.HealthPath, p.HealthTimeout)
}
