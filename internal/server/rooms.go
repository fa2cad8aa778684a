package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/rules"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
)

// monitoring is the metrics and alert rooms as the server runs them: one
// Monitor for the life of the server, and an alert engine rebuilt on every
// config change (adopting the old one's state).
type monitoring struct {
	mon *metrics.Monitor
	log *slog.Logger

	newEngine func(ctx context.Context, c *config.Config) (*alert.Engine, error)

	mu      sync.Mutex
	engine  *alert.Engine
	stopRun context.CancelFunc
	runDone chan struct{}
	bg      context.Context
}

// startMonitoring opens the TSDB and builds the first alert engine. It does
// not start collection; run does.
func startMonitoring(ctx context.Context, o Options, cfg *config.Config, st *store.Store,
	rts map[string]runtime.Runtime, px *proxy.Client, reg *prometheus.Registry, obs alert.Observer) (*monitoring, error) {
	m := &monitoring{log: o.Logger}
	instances := func(ctx context.Context) ([]runtime.Instance, error) {
		var all []runtime.Instance
		for _, rt := range rts {
			is, err := rt.List(ctx)
			if err != nil {
				return all, err
			}
			all = append(all, is...)
		}
		return all, nil
	}
	mon, err := metrics.New(metrics.Options{
		Dir:       filepath.Join(o.StateDir, "tsdb"),
		Config:    cfg,
		Logger:    o.Logger.With("room", "metrics"),
		Clock:     o.Now,
		Instances: instances,
		Proxy:     px,
		Gatherer:  reg,
		Rules:     m,
		Version:   o.Version,
	})
	if err != nil {
		return nil, fmt.Errorf("monitoring: %w", err)
	}
	m.mon = mon
	state := NewAlertState(st)
	m.newEngine = func(ctx context.Context, c *config.Config) (*alert.Engine, error) {
		return alert.New(ctx, alert.Options{
			Config:          c,
			Queryable:       mon.Storage(),
			Appendable:      mon.Storage(),
			QueryEngine:     mon.Engine(),
			RecordingGroups: metrics.RecordingRules().Groups,
			Registerer:      reg,
			Logger:          o.Logger.With("room", "alert"),
			Now:             o.Now,
			State:           state,
			Observer:        obs,
			Secret: func(ctx context.Context, name string) (string, error) {
				vals, err := o.Secrets(ctx, []string{name})
				if err != nil {
					return "", err
				}
				return vals[name].Reveal(), nil
			},
		})
	}
	e, err := m.newEngine(ctx, cfg)
	if err != nil {
		mon.Close()
		return nil, fmt.Errorf("alerts: %w", err)
	}
	m.engine = e
	return m, nil
}

// run collects and evaluates until ctx ends.
func (m *monitoring) run(ctx context.Context) {
	m.mu.Lock()
	m.bg = ctx
	m.startEngineLocked()
	m.mu.Unlock()
	if err := m.mon.Run(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("metrics collection stopped", "err", err)
	}
	m.mu.Lock()
	done := m.runDone
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (m *monitoring) startEngineLocked() {
	if m.bg == nil {
		return
	}
	ctx, cancel := context.WithCancel(m.bg)
	done := make(chan struct{})
	e := m.engine
	go func() {
		defer close(done)
		if err := e.Run(ctx, time.Second); err != nil && ctx.Err() == nil {
			m.log.Error("alert evaluation stopped", "err", err)
		}
	}()
	m.stopRun, m.runDone = cancel, done
}

// setConfig swaps in an alert engine for c and retargets scraping. The
// engine is built first: a config whose rules do not build changes
// nothing, and the error says why.
func (m *monitoring) setConfig(ctx context.Context, c *config.Config) error {
	e, err := m.newEngine(ctx, c)
	if err != nil {
		return fmt.Errorf("alert rules not applied; the previous rules keep running: %w", err)
	}
	if err := m.mon.SetConfig(c); err != nil {
		return fmt.Errorf("monitoring config not applied: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopRun != nil {
		m.stopRun()
		<-m.runDone
		m.stopRun, m.runDone = nil, nil
	}
	e.Adopt(m.engine)
	m.engine = e
	m.startEngineLocked()
	return nil
}

// RuleGroups feeds /api/v1/rules and /api/v1/alerts from the live engine.
func (m *monitoring) RuleGroups() []*rules.Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engine.RuleGroups()
}

var _ metrics.RuleSource = (*monitoring)(nil)

// engineInForce is the alert engine of the config in force, for the
// alerting API.
func (m *monitoring) engineInForce() *alert.Engine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engine
}

// close releases the TSDB; call after run returned.
func (m *monitoring) close() error { return m.mon.Close() }
