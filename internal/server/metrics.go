package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsHandler serves the proxy's metrics (read from its control
// socket) together with the server's own registry as one Prometheus text
// exposition. A family both expose is taken from the server's registry,
// so the output never repeats a family name.
type metricsHandler struct {
	proxy interface {
		Metrics(ctx context.Context) ([]byte, error)
	}
	reg *prometheus.Registry
	log *slog.Logger
}

func (m *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	own, err := m.reg.Gather()
	if err != nil {
		m.log.Warn("metrics: gather", "err", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range own {
		byName[mf.GetName()] = mf
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if text, err := m.proxy.Metrics(ctx); err != nil {
		m.log.Warn("metrics: proxy unavailable", "err", err)
	} else {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
		if err != nil {
			m.log.Warn("metrics: proxy exposition", "err", err)
		}
		for name, mf := range fams {
			if _, dup := byName[name]; !dup {
				byName[name] = mf
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, n := range names {
		if err := enc.Encode(byName[n]); err != nil {
			m.log.Warn("metrics: encode", "family", n, "err", err)
			return
		}
	}
}
