package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

func (a *app) newDeployCmd() *cobra.Command {
	var env, version string
	var detach, force bool
	cmd := &cobra.Command{
		Use:   "deploy SERVICE",
		Short: "Deploy a service to an environment and wait until it is live",
		Long: "tug deploy asks the running server to release SERVICE to --env (default: the\n" +
			"first declared environment) and prints the progress until the release is live\n" +
			"or failed (exit 1, with the reason). An environment with approval: required\n" +
			"waits for `tug approve RELEASE`. The deploy belongs to the server: --detach\n" +
			"returns once the release exists, and Ctrl-C only stops following it. A revision\n" +
			"that failed or was rolled back in another environment is refused unless --force.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			a.warnStaleConfig()
			req := api.DeployRequest{Service: args[0], Environment: env, Version: version, Who: a.who(), Force: force}
			p := a.newProgressPrinter(a.out, "")
			f := newFollower(cmd.Context(), p, detach)
			defer f.stop()
			rel, err := c.Deploy(f.ctx, req, f.event)
			if err != nil && f.left() {
				return f.report("deploy", args[0])
			}
			return a.finishRelease(p, "deploy", args[0], rel, err, time.Time{})
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (default: the first declared one)")
	cmd.Flags().StringVar(&version, "version", "", "git revision to deploy (default: HEAD); ignored for images")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the release exists; the server carries on with it")
	cmd.Flags().BoolVar(&force, "force", false, "deploy a revision that failed or was rolled back in another environment")
	return cmd
}

// warnStaleConfig says so when tug.yaml on disk does not load: the server
// goes on with the config it loaded before, which is not what the file
// says.
func (a *app) warnStaleConfig() {
	_, err := a.loadConfig()
	if err == nil || !errors.Is(err, config.ErrInvalid) {
		return
	}
	fmt.Fprintf(a.errOut, "tug: warning: tug.yaml on disk is invalid, so the server uses the config it loaded before (fix the file; the server reloads it):\n%v\n", err)
}

// follower follows a server-side release for a command: it remembers the
// release's ID and, with detach, stops following once it is known.
type follower struct {
	p       *progressPrinter
	parent  context.Context
	ctx     context.Context
	stop    context.CancelFunc
	detach  bool
	release string
}

func newFollower(parent context.Context, p *progressPrinter, detach bool) *follower {
	ctx, stop := context.WithCancel(parent)
	return &follower{p: p, parent: parent, ctx: ctx, stop: stop, detach: detach}
}

func (f *follower) event(e deploy.Event) {
	f.p.event(e)
	if e.Release != "" && f.release == "" {
		f.release = e.Release
		if f.detach {
			f.stop()
		}
	}
}

// left reports whether the command stopped following a release that
// exists (detached or interrupted) rather than the release ending.
func (f *follower) left() bool { return f.release != "" && f.ctx.Err() != nil }

// report says what became of a release the command stopped following:
// nothing; it goes on in the server. Detaching is success; an interrupt
// is not (exit 1), though the release goes on.
func (f *follower) report(verb, service string) error {
	follow := fmt.Sprintf("follow it with `tug releases %s`", service)
	if f.detach && f.parent.Err() == nil {
		if f.p.a.jsonOut {
			return json.NewEncoder(f.p.w).Encode(map[string]any{"detached": map[string]string{"release": f.release, "service": service}})
		}
		_, err := fmt.Fprintf(f.p.w, "%s %s of %s goes on in the server; %s\n", verb, f.release, service, follow)
		return err
	}
	return fmt.Errorf("stopped following %s %s of %s; it goes on in the server: %s", verb, f.release, service, follow)
}

// progressPrinter prints deploy events as lines (or JSON lines with
// --json); safe for concurrent use so `tug up` can share one.
type progressPrinter struct {
	a      *app
	w      io.Writer
	prefix string
	mu     *sync.Mutex
}

func (a *app) newProgressPrinter(w io.Writer, prefix string) *progressPrinter {
	return &progressPrinter{a: a, w: w, prefix: prefix, mu: &sync.Mutex{}}
}

// with returns a printer sharing the lock with another prefix.
func (p *progressPrinter) with(prefix string) *progressPrinter {
	return &progressPrinter{a: p.a, w: p.w, prefix: prefix, mu: p.mu}
}

func (p *progressPrinter) event(e deploy.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.a.jsonOut {
		_ = json.NewEncoder(p.w).Encode(map[string]any{"event": e})
		return
	}
	ts := e.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	line := fmt.Sprintf("%s%s  %-8s %-9s %s", p.prefix, ts.Local().Format("15:04:05"), e.Release, e.Phase, e.Message)
	fmt.Fprintln(p.w, p.a.mask(strings.TrimRight(line, " ")))
}

// finishRelease prints the outcome of a deploy or rollback and returns
// the command's error: a failed release is exit 1 with its reason. A
// rollback's release is the older one it went back to, so its own times
// say nothing of the rollback: since is when the rollback was asked for.
func (a *app) finishRelease(p *progressPrinter, verb, service string, rel *deploy.Release, err error, since time.Time) error {
	if a.jsonOut && rel != nil {
		p.mu.Lock()
		_ = json.NewEncoder(p.w).Encode(map[string]any{"release": rel})
		p.mu.Unlock()
	}
	if err != nil {
		var e *endpoint.Error
		if errors.As(err, &e) && e.Code == endpoint.CodeDeployFailed {
			reason := e.Message
			if rel != nil && rel.Reason != "" {
				reason = rel.Reason
			}
			id := ""
			if rel != nil {
				id = " " + rel.ID
				if rel.Environment != "" {
					id += " to " + rel.Environment
				}
			}
			return fmt.Errorf("%s of %s%s failed: %s", verb, service, id, reason)
		}
		return a.serverErr(err)
	}
	if !a.jsonOut && rel != nil {
		what := rel.Revision
		if rel.Digest != "" {
			what = rel.Digest
		}
		if len(what) > 12 {
			what = what[:12]
		}
		if what != "" {
			what = " (" + what + ")"
		}
		if verb == "rollback" {
			took := time.Since(since)
			d := fmtDuration(took)
			if took < time.Second {
				d = took.Round(time.Millisecond).String() // a table switch takes milliseconds
			}
			fmt.Fprintf(p.w, "%s%s %s%s is %s again in %s (rolled back in %s)\n", p.prefix, service, rel.ID, what, rel.Status, rel.Environment, d)
			return nil
		}
		took := ""
		if rel.FinishedAt != nil && !rel.CreatedAt.IsZero() {
			took = ", " + fmtDuration(rel.FinishedAt.Sub(rel.CreatedAt))
		}
		fmt.Fprintf(p.w, "%s%s %s%s is %s in %s (%s%s)\n", p.prefix, service, rel.ID, what, rel.Status, rel.Environment, rel.Strategy, took)
	}
	return nil
}
