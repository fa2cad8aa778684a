package server

import (
	"context"
	"log/slog"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
)

// newRuntimes builds the runtimes services run on: "process" always,
// "docker" when the engine answers (see dockerRuntime).
func newRuntimes(ctx context.Context, o Options, cfg *config.Config, log *slog.Logger) (map[string]runtime.Runtime, error) {
	proc, err := runtime.NewProcess(runtime.ProcessOptions{
		StateDir: o.StateDir,
		Logger:   log.With("runtime", "process"),
		Now:      o.Now,
		MaskLog:  o.MaskLog,
	})
	if err != nil {
		return nil, err
	}
	rts := map[string]runtime.Runtime{"process": proc}
	if d := dockerRuntime(ctx, o, cfg, log); d != nil {
		rts["docker"] = d
	}
	return rts, nil
}
