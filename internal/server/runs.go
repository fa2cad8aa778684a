package server

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/scan"
	"github.com/tugdev/tug/internal/schedule"
	"github.com/tugdev/tug/internal/trigger"
)

// startRuns starts the server's pipeline runs: the queue (runs queued
// while the server was down start again, the worktrees of runs a crash
// cut off are removed), the push trigger (the refs of the repository
// holding tug.yaml, watched), the schedules, webhooks and commit
// statuses. Outside a git repository the server runs no pipelines.
func (d *daemon) startRuns(ctx context.Context) error {
	current := func() *config.Config { return d.src.Current().Config }
	rn := runner.New(runner.Options{
		Store:    d.store,
		StateDir: d.o.StateDir,
		Secrets:  d.o.Secrets,
		DeployerFor: func(spec runner.Spec) pipeline.Deployer {
			return runner.ManagerDeployer{M: d.mgr, Source: spec.Source, Who: "pipeline " + spec.Pipeline + " (" + spec.Origin + ")", Resumed: spec.Resumed}
		},
		ScannerFor: func(cfg *config.Config, dir string) pipeline.Scanner {
			return scan.Jobs{Config: cfg, Dir: dir, LookupEnv: d.o.LookupEnv}
		},
		LookupEnv: d.o.LookupEnv,
		Logger:    d.log,
	})
	q, err := runner.NewQueue(ctx, runner.QueueOptions{
		Runner: rn, Store: d.store, StateDir: d.o.StateDir, ConfigPath: d.o.ConfigPath,
		Config: current, LookupEnv: d.o.LookupEnv, Logger: d.log,
		Statuses: forge.NewStatuses(forge.StatusOptions{Config: current, Secrets: d.o.Secrets, Logger: d.log}),
	})
	if err != nil {
		d.log.Warn("pipelines will not run on the server: tug.yaml is not in a git repository", "err", err)
		return nil
	}
	d.runs = q
	d.hooks = forge.NewHooks(forge.HooksOptions{Pusher: q, Config: current, Secrets: d.o.Secrets, Logger: d.log})

	sched := schedule.New(schedule.Options{Store: d.scheduleStore(), Logger: d.log})
	life := d.reqCtx // cancelled (the server is stopping) before the deploy manager shuts down
	setSchedules := func(c *config.Config) {
		if err := sched.Set(trigger.Schedules(c, func(p string, at time.Time) { q.Scheduled(life, p, at) })); err != nil {
			d.log.Error("pipeline schedules", "err", err)
		}
	}
	setSchedules(d.cfg)
	prev := d.src.onChange
	d.src.onChange = func(c *config.Config) error {
		if err := prev(c); err != nil {
			return err
		}
		setSchedules(c)
		return nil
	}
	refs := &trigger.Watcher{
		GitDir:    q.GitDir(),
		StateFile: filepath.Join(d.o.StateDir, "refs.json"),
		Logger:    d.log,
		OnPush: func(ctx context.Context, pushes []trigger.Push) {
			if _, err := q.OnPush(ctx, runner.PushSource{Origin: runner.OriginPush, Trigger: "git"}, pushes); err != nil {
				d.log.Error("runs: a push could not be queued", "err", err)
			}
		},
	}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	wg.Go(func() {
		if err := refs.Run(life, ready); err != nil {
			d.log.Warn("push trigger unavailable: the repository's refs cannot be watched; use `tug hook install`", "err", err)
			close(ready)
		}
	})
	wg.Go(func() { _ = sched.Run(life) })
	wg.Go(func() { _ = q.Run(life) })
	<-ready
	d.later(func() {
		d.stopReqs(deploy.ErrServerStopping) // a start that failed later has not stopped them yet
		wg.Wait()
		if err := rn.Close(); err != nil {
			d.log.Warn("saving the job cache's file hashes", "err", err)
		}
	})
	return nil
}

// scheduleStore keeps the pipeline schedules' last ticks; an unreadable
// file starts counting from now.
func (d *daemon) scheduleStore() schedule.Store {
	path := filepath.Join(d.o.StateDir, "schedules.json")
	st, err := schedule.OpenFileStore(path)
	if err != nil {
		d.log.Warn("pipeline schedules: the last ticks are unreadable; moved aside, counting from now", "err", err)
		_ = os.Rename(path, path+".bad")
		st, _ = schedule.OpenFileStore(path)
	}
	return st
}
