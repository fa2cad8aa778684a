package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/runtime"
)

// logsRetention is cfg's logs.retention, or 0 for the default.
func logsRetention(cfg *config.Config) time.Duration {
	if cfg.Logs != nil {
		return cfg.Logs.Retention.D()
	}
	return 0
}

// openLogs opens the log store. Instances are read through rts, which the
// server fills once its runtimes exist; until then there are none.
func openLogs(ctx context.Context, o Options, cfg *config.Config, rts *atomic.Pointer[map[string]runtime.Runtime]) (*logs.Logs, error) {
	current := func() map[string]runtime.Runtime {
		if m := rts.Load(); m != nil {
			return *m
		}
		return nil
	}
	return logs.New(ctx, logs.Options{
		StateDir:  o.StateDir,
		Logger:    o.Logger,
		Now:       o.Now,
		Retention: logsRetention(cfg),
		Instances: func(ctx context.Context) ([]runtime.Instance, error) {
			var all []runtime.Instance
			for _, rt := range current() {
				l, err := rt.List(ctx)
				if err != nil {
					return all, err
				}
				all = append(all, l...)
			}
			return all, nil
		},
		Since: func(ctx context.Context, id string, since time.Time) ([]runtime.LogLine, error) {
			for _, rt := range current() {
				tl, ok := rt.(runtime.TimedLogs)
				if !ok {
					continue
				}
				if l, err := tl.LogsSince(ctx, id, since); !errors.Is(err, runtime.ErrNotFound) {
					return l, err
				}
			}
			return nil, runtime.ErrNotFound
		},
	})
}
