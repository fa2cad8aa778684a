package server

import (
	"context"
	"errors"
	"math"

	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/proxy"
)

// startFlags builds the flags room before the deploy manager, so the
// first routing table it pushes (on recovery too) carries the flag set;
// the room pushes its changes through that manager (deployRef).
func (d *daemon) startFlags(ctx context.Context) error {
	query := d.o.Query
	if query == nil {
		query = d.mon.mon.Query
	}
	fm, err := flags.New(ctx, flags.Options{
		Store: d.store,
		Push:  deployRef{d},
		Roll:  deployRef{d},
		Query: func(ctx context.Context, expr string) (float64, error) {
			v, err := query(ctx, expr)
			if errors.Is(err, metrics.ErrNoData) {
				return math.NaN(), nil
			}
			return v, err
		},
		StateDir:  d.o.StateDir,
		ProxyAddr: d.httpAddr,
		// Containers reach the proxy at the Docker bridge's gateway.
		ContainerProxyAddr: d.flagsAddr,
		FlagsURL:           proxy.FlagsURL,
		Audit:              d.audit,
		Now:                d.o.Now,
		Logger:             d.log,
	})
	if err != nil {
		return err
	}
	if err := fm.SetConfig(ctx, d.cfg); err != nil {
		return err
	}
	d.flags = fm
	d.later(fm.Close)
	return nil
}

// startFlagRamps pushes the flag set and starts stepping ramps, once
// the deploy manager runs.
func (d *daemon) startFlagRamps(ctx context.Context) error {
	if err := d.flags.Start(ctx); err != nil {
		d.log.Error("pushing the flag set to the proxy", "err", err)
	}
	return nil
}

// deployRef reaches the deploy manager, made after the flags room.
type deployRef struct{ d *daemon }

var (
	_ flags.Pusher = deployRef{}
	_ flags.Roller = deployRef{}
)

func (r deployRef) PushFlags(ctx context.Context) error {
	if r.d.mgr == nil {
		return nil // the manager's first push carries the set
	}
	return r.d.mgr.PushFlags(ctx)
}

func (r deployRef) Roll(ctx context.Context, service, env, who, reason string) error {
	if r.d.mgr == nil {
		return nil
	}
	if r.d.reqCtx != nil {
		ctx = r.d.reqCtx // stopping the server stops the roll, as it stops deploys
	}
	return r.d.mgr.Roll(ctx, service, env, who, reason)
}
