package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/registry"
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
		if s.RunsContainers() {
			level = slog.LevelWarn
		}
	}
	c, err := registry.Connect(ctx, 3*time.Second)
	if err != nil {
		log.Log(ctx, level, "docker unavailable: services with image: cannot be deployed", "err", err)
		return nil
	}
	c.Close()
	// The runtime makes (and closes) its own client; it is returned as
	// itself so the deploy manager sees its optional interfaces
	// (ImageResolver).
	dir := filepath.Join(o.StateDir, "docker")
	initBin, err := secretsInit(dir, o.SecretsInit)
	if err != nil {
		log.Warn("secrets of Docker services go into their containers' environment, which `docker inspect` shows", "err", err)
	} else if initBin == "" {
		log.Log(ctx, level, "secrets of Docker services go into their containers' environment, which `docker inspect` shows: this tug is not a static binary (scripts/build.sh builds one)")
	}
	d, err := runtime.NewDocker(runtime.DockerOptions{
		Owner:       dockerOwner(o.StateDir),
		Logger:      log.With("runtime", "docker"),
		Now:         o.Now,
		StateDir:    dir,
		LookupEnv:   o.LookupEnv,
		SecretsInit: initBin,
	})
	if err != nil {
		log.Log(ctx, level, "docker runtime", "err", err)
		return nil
	}
	return d
}

// containerFlags says where containers reach the proxy's feature flags
// (TUG_FLAGS_URL): Docker's default bridge, which service containers are
// on, reaches the host at its gateway address, on the proxy's HTTP port.
// listen is the OFREP-only listener the proxy opens there (`tug proxy
// --flags`), "" when its HTTP listener takes every address anyway; addr
// is what containers are given. Both are "" without flags, container
// services or a Docker engine.
func containerFlags(ctx context.Context, cfg *config.Config, httpAddr string) (listen, addr string) {
	containers := false
	for _, s := range cfg.Services {
		containers = containers || s.RunsContainers()
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if len(cfg.Flags) == 0 || !containers || err != nil {
		return "", ""
	}
	c, err := registry.Connect(ctx, 3*time.Second)
	if err != nil {
		return "", ""
	}
	defer c.Close()
	nw, err := c.NetworkInspect(ctx, network.NetworkBridge, network.InspectOptions{})
	if err != nil {
		return "", ""
	}
	for _, ipam := range nw.IPAM.Config {
		// An engine that names no gateway uses the subnet's first address.
		gw, err := netip.ParseAddr(ipam.Gateway)
		if p, perr := netip.ParsePrefix(ipam.Subnet); err != nil && perr == nil {
			gw, err = p.Masked().Addr().Next(), nil
		}
		if err == nil && gw.Is4() {
			addr = net.JoinHostPort(gw.String(), port)
			break
		}
	}
	if ip := net.ParseIP(host); addr == "" || host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", addr
	}
	return addr, addr
}

// secretsInit copies the static tug binary src into dir (again whenever
// src changed, temp file then rename, so running containers keep the one
// they mounted) for containers to run as their secrets entrypoint, and
// returns the copy; "" when src is "". A copy survives the original being
// moved or deleted, which a container restart would otherwise trip on.
func secretsInit(dir, src string) (string, error) {
	if src == "" {
		return "", nil
	}
	dst := filepath.Join(dir, "tug-init")
	if same, err := sameFile(src, dst); err != nil || same {
		return dst, err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	err = kit.WriteFileFrom(dst, 0o755, kit.SyncAll, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		return "", err
	}
	return dst, nil
}

// sameFile reports whether b is a current copy of a: a's size, written
// after a last changed. Stat only: reading both binaries on every server
// start would cost tens of megabytes of I/O.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, nil
	}
	return fa.Size() == fb.Size() && fb.ModTime().After(fa.ModTime()), nil
}
