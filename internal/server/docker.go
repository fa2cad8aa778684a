package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
)

// dockerOwner labels the containers of one state directory, so servers
// of different projects on one engine never adopt each other's.
func dockerOwner(stateDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	return "tug-" + hex.EncodeToString(sum[:6])
}

// dockerRuntime returns the Docker runtime when the engine answers, or
// nil: services with image: then fail to deploy with an error saying no
// runtime serves them.
func dockerRuntime(ctx context.Context, o Options, cfg *config.Config, log *slog.Logger) runtime.Runtime {
	level := slog.LevelDebug
	for _, s := range cfg.Services {
		if s.Image != "" {
			level = slog.LevelWarn
		}
	}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		log.Log(ctx, level, "docker unavailable: services with image: cannot be deployed", "err", err)
		return nil
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = c.Ping(pingCtx)
	c.Close()
	if err != nil {
		log.Log(ctx, level, "docker engine not answering: services with image: cannot be deployed", "err", err)
		return nil
	}
	// The runtime makes (and closes) its own client; it is returned as
	// itself so the deploy manager sees its optional interfaces
	// (ImageResolver).
	d, err := runtime.NewDocker(runtime.DockerOptions{
		Owner:    dockerOwner(o.StateDir),
		Logger:   log.With("runtime", "docker"),
		Now:      o.Now,
		StateDir: filepath.Join(o.StateDir, "docker"),
	})
	if err != nil {
		log.Log(ctx, level, "docker runtime", "err", err)
		return nil
	}
	return d
}
