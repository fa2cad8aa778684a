package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/store"
)

// DownOptions say what Down stops. StateDir is required.
type DownOptions struct {
	StateDir string
	// Environment limits Down to one environment's services; "" stops
	// every service and the proxy.
	Environment string
	LookupEnv   func(string) (string, bool)
	Logger      *slog.Logger
}

// DownResult is what Down stopped.
type DownResult struct {
	// Stopped are the instances stopped.
	Stopped []string
	// Proxy says the proxy was running and is stopped.
	Proxy bool
}

// Down stops, while no server runs, the services of the state directory
// (those of Environment only, when set) and, when every service goes
// down, the proxy. Their deploy state is forgotten, so the next server
// does not start them again; the release history stays. Down holds the
// server's lock meanwhile, so no server starts under it; with a server
// running it returns ErrRunning (ask that server: api.Client.Down, or
// stop it first with Stop).
func Down(ctx context.Context, o DownOptions) (DownResult, error) {
	var res DownResult
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if _, err := os.Stat(o.StateDir); errors.Is(err, fs.ErrNotExist) {
		return res, nil // nothing ever ran here
	}
	lock, err := acquireLock(o.StateDir)
	if err != nil {
		return res, err
	}
	defer lock.release()
	st, err := store.Open(ctx, o.StateDir, store.Options{Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer st.Close()
	rts, err := newRuntimes(ctx, Options{StateDir: o.StateDir, Logger: o.Logger, Now: time.Now, LookupEnv: o.LookupEnv}, &config.Config{}, o.Logger)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, rt := range rts {
			rt.Close()
		}
	}()
	px := newProxySupervisor(o.StateDir, nil, o.Logger)
	proxyUp := px.healthy(ctx)
	var router deploy.Router = px.client
	if !proxyUp {
		// Nobody to tell: the next server pushes a table without them.
		router = noProxy{}
	}
	mgr, err := deploy.New(deploy.Options{Store: st, Runtimes: rts, Router: router, StateDir: o.StateDir, Logger: o.Logger})
	if err != nil {
		return res, err
	}
	if err := mgr.Load(ctx); err != nil {
		return res, err
	}
	if res.Stopped, err = mgr.Down(ctx, o.Environment); err != nil {
		return res, err
	}
	if o.Environment == "" && proxyUp {
		if err := px.stop(10 * time.Second); err != nil {
			return res, err
		}
		res.Proxy = true
	}
	return res, nil
}

// Stop asks the server of stateDir to stop (SIGTERM: it finishes or rolls
// back what it is doing, as on Ctrl-C) and waits up to wait for it to
// release its lock. It returns the server's PID, or 0 when none runs.
func Stop(ctx context.Context, stateDir string, wait time.Duration) (int, error) {
	path := filepath.Join(stateDir, lockFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	l, err := kit.TryLockFile(path, true)
	if err == nil {
		l.Unlock()
		return 0, nil // free: no server
	}
	if !errors.Is(err, kit.ErrLocked) {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(stateDir, PIDFile))
	if err != nil {
		return 0, fmt.Errorf("a server holds %s but its pid file is unreadable: %w", stateDir, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !kit.Alive(pid) {
		return 0, fmt.Errorf("a server holds %s but its pid file names no running process", stateDir)
	}
	if err := sendSignal(pid, false); err != nil {
		return pid, fmt.Errorf("stop the server (pid %d): %w", pid, err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l, err = kit.LockFile(wctx, path, true)
	if err != nil {
		if ctx.Err() != nil {
			return pid, ctx.Err()
		}
		return pid, fmt.Errorf("the server (pid %d) did not stop within %s", pid, wait)
	}
	l.Unlock()
	return pid, nil
}

// noProxy is the routing table's destination when no proxy runs: it takes
// every table and has no backends, so nothing waits for a drain.
type noProxy struct{}

func (noProxy) Apply(context.Context, *proxy.Table) error { return nil }
func (noProxy) Table(context.Context) (*proxy.Table, error) {
	return &proxy.Table{}, nil
}
func (noProxy) Stats(context.Context) ([]proxy.Stats, error) { return nil, nil }
func (noProxy) Backends(context.Context) ([]proxy.BackendStatus, error) {
	return nil, nil
}

var _ deploy.Router = noProxy{}
