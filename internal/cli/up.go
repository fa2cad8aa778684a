package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/server"
)

func (a *app) newUpCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the server with this repository's tug.yaml and deploy every service",
		Long: "tug up runs the server in the foreground, deploys every service to every\n" +
			"environment that does not require approval, prints their URLs and keeps\n" +
			"serving. Ctrl-C stops the server, the services and the proxy.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.stopServices = true
			opts, err := a.serverOptions(f)
			if err != nil {
				return err
			}
			return a.up(cmd.Context(), opts)
		},
	}
	a.addServerFlags(cmd, &f)
	return cmd
}

func (a *app) up(ctx context.Context, opts server.Options) error {
	ready := make(chan server.Info, 1)
	opts.Ready = func(i server.Info) { ready <- i }
	done := make(chan error, 1)
	go func() { done <- a.runServer(ctx, opts) }()
	var info server.Info
	select {
	case err := <-done:
		return err
	case info = <-ready:
	}
	c := api.NewClient(info.Socket)
	st, err := c.Status(ctx)
	if err != nil {
		return errors.Join(a.serverErr(err), <-done)
	}
	p := a.newProgressPrinter(a.out, "")
	type target struct{ service, env string }
	var targets []target
	var waiting []string
	for _, svc := range st.Services {
		for _, env := range st.Environments {
			if env.Approval == "required" {
				waiting = append(waiting, fmt.Sprintf("%s needs approval in %s: `tug deploy %s --env %s`, then `tug approve RELEASE`", svc.Name, env.Name, svc.Name, env.Name))
				continue
			}
			targets = append(targets, target{svc.Name, env.Name})
		}
	}
	if len(st.Services) == 0 {
		fmt.Fprintln(a.out, "no services in tug.yaml: nothing to deploy")
	}
	failed := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			tp := p.with(fmt.Sprintf("%s/%s ", t.service, t.env))
			rel, err := c.Deploy(ctx, api.DeployRequest{Service: t.service, Environment: t.env, Who: a.who()}, tp.event)
			if err := a.finishRelease(tp, "deploy", t.service, rel, err, time.Time{}); err != nil {
				failed[i] = true
				if ctx.Err() == nil {
					p.mu.Lock()
					fmt.Fprintf(a.errOut, "tug: %s\n", a.mask(err.Error()))
					p.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() == nil {
		fmt.Fprintln(a.out)
		for i, t := range targets {
			if failed[i] {
				continue
			}
			for _, svc := range st.Services {
				if svc.Name != t.service {
					continue
				}
				for _, r := range svc.Routes[t.env] {
					fmt.Fprintf(a.out, "%s (%s): %s\n", t.service, t.env, routeURL(r, info.HTTPAddr))
				}
			}
		}
		for _, w := range waiting {
			fmt.Fprintln(a.out, w)
		}
		fmt.Fprintln(a.out, "tug is up; Ctrl-C stops the server, the services and the proxy")
	}
	return <-done
}
