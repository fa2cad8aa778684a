package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/tugdev/tug/internal/image"
	"github.com/tugdev/tug/internal/ociregistry"
	"github.com/tugdev/tug/internal/store"
)

// RegistryDir is where tug's registry keeps its storage in the state
// directory.
const RegistryDir = "registry"

// startRegistry makes the image builder deploys use and, when
// server.registry names a listener, serves tug's own image registry there
// (the OCI distribution API, not tug's: it is not in the route table) and
// collects its garbage (at start, then after pushes) until the server
// stops.
func (d *daemon) startRegistry(ctx context.Context) error {
	b, err := image.NewBuilder(image.Options{LookupEnv: d.o.LookupEnv, Logger: d.log.With("room", "image")})
	if err != nil {
		return err
	}
	d.images = b
	d.later(func() { b.Close() })
	s := d.cfg.Server
	if s == nil || s.Registry == nil || s.Registry.Listen == "" {
		return nil
	}
	keep := s.Registry.Keep
	if keep <= 0 {
		keep = ociregistry.DefaultKeep
	}
	st := d.store
	reg, err := ociregistry.New(ociregistry.Options{
		Dir:    filepath.Join(d.o.StateDir, RegistryDir),
		Keep:   keep,
		Pinned: func(ctx context.Context) ([]string, error) { return pinnedImages(ctx, st, keep) },
		Logger: d.log.With("room", "registry"),
		Now:    d.o.Now,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Registry.Listen)
	if err != nil {
		return fmt.Errorf("server.registry.listen %s: %w", s.Registry.Listen, err)
	}
	// Served beside the API, by the same loop, stopped at the same time.
	d.serveOn(ln, reg.Handler())
	gcCtx, stopGC := context.WithCancel(context.WithoutCancel(ctx))
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		reg.Run(gcCtx)
	}()
	d.later(func() {
		stopGC()
		<-collected
	})
	d.log.Info("tug's registry serving", "addr", ln.Addr().String())
	return nil
}

// pinnedImages lists the images releases pin that garbage collection must
// keep: per service and environment, those of the newest keep releases,
// so the live one and those a rollback goes back to stay pullable.
func pinnedImages(ctx context.Context, st *store.Store, keep int) ([]string, error) {
	rels, err := st.ListReleases(ctx, "", "", 0) // newest first
	if err != nil {
		return nil, err
	}
	seen := map[[2]string]int{}
	var out []string
	for _, r := range rels {
		k := [2]string{r.Service, r.Environment}
		if r.Digest == "" || seen[k] >= keep {
			continue
		}
		seen[k]++
		out = append(out, r.Digest)
	}
	return out, nil
}
