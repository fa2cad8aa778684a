package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// defaultPipeline is run when tug.yaml has several pipelines and none is named.
const defaultPipeline = "ci"

// runFlags are `tug run`'s own flags.
type runFlags struct {
	jobs     []string
	parallel int
	noCache  bool
	explain  []string
	branch   string
	event    string
	force    bool
	graph    bool
	format   string
	remote   bool
}

func (a *app) newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [PIPELINE]",
		Short: "Run a pipeline of tug.yaml here, without a server",
		Long: "Run a pipeline (default: the only one, or \"ci\") in the directory of tug.yaml.\n" +
			"Jobs start as soon as their needs are done; unchanged cacheable jobs are skipped.\n" +
			"Exit code 0 when every job passed, 1 when one failed, 2 on bad input.",
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return cfg.PipelineOrder, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return a.run(cmd.Context(), name, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.jobs, "job", nil, "run only this job and what it needs (repeatable; runs manual jobs too)")
	fl.IntVarP(&f.parallel, "parallel", "j", 0, "how many jobs run at once (default: one per CPU)")
	fl.BoolVar(&f.noCache, "no-cache", false, "run cacheable jobs even when their inputs are unchanged")
	fl.StringArrayVar(&f.explain, "explain", nil, "run nothing; say whether this job would be taken from the cache and what changed since its last cached run (repeatable)")
	fl.StringVar(&f.branch, "branch", "", "branch the run is for (default: the checkout's)")
	fl.StringVar(&f.event, "event", config.EventManual, "event the run is for: "+strings.Join(config.RunEvents(), ", ")+"; a pipeline runs only for events its on: names, and if: expressions see it as event")
	fl.BoolVar(&f.force, "force", false, "run the pipeline even if its on: does not name the --event")
	fl.BoolVar(&f.graph, "graph", false, "run nothing; print the pipeline's graph: stages, needs and matrix cells")
	fl.StringVar(&f.format, "format", "text", "with --graph: text, dot (Graphviz) or mermaid")
	fl.BoolVar(&f.remote, "remote", false, "start the run on the server (its checkout of the commit, its queue) and follow it")
	return cmd
}

// run loads, plans, resolves secrets, records and runs one pipeline.
// Nothing is started or recorded unless the input is good.
func (a *app) run(ctx context.Context, name string, f runFlags) error {
	if f.parallel < 0 {
		return badInputf("-j %d: want a positive number of parallel jobs (0: one per CPU)", f.parallel)
	}
	if f.remote {
		return a.runRemote(ctx, name, f)
	}
	start := time.Now()
	phase := func(what string) {
		a.logger.Debug("run setup", "phase", what, "elapsed", time.Since(start))
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	phase("config loaded")
	ws, err := a.workspace()
	if err != nil {
		return err
	}
	if name == "" {
		name = pickPipeline(cfg)
	}
	if f.graph {
		plan, err := pipeline.NewPlan(cfg, name)
		if err != nil {
			return err
		}
		return a.printGraph(cfg.Pipelines[name], plan, f.format)
	}
	if f.format != "text" {
		return badInputf("--format is for --graph")
	}
	if err := checkEvent(cfg, name, f); err != nil {
		return err
	}
	stateDir := a.stateDir()
	rn := runner.New(runner.Options{
		StateDir:  stateDir,
		Secrets:   a.localSecrets(cfg, ws),
		Scanner:   a.scanJobs(cfg, ws),
		Deployer:  a.deployJobs(),
		LookupEnv: a.lookupEnv,
		Logger:    a.logger,
	})
	spec := runner.Spec{Pipeline: name, Jobs: f.jobs, NoCache: f.noCache, Parallel: f.parallel,
		Event: f.event, Origin: runner.OriginCLI, Trigger: a.who()}
	prep, err := rn.Prepare(ctx, cfg, ws, spec)
	if err != nil {
		return err
	}
	phase("secrets resolved")
	if len(f.explain) > 0 {
		// A dry run: nothing runs, nothing is recorded.
		list, err := rn.Explain(ctx, prep, f.explain)
		if err != nil {
			return err
		}
		return a.printExplanations(list)
	}

	// Ask git while the history database opens: both take a few ms.
	gitc := make(chan gitInfo, 1)
	go func() { gitc <- readGitInfo(ctx, ws) }()
	changed, err := store.PrepareStateDir(stateDir, filepath.Join(ws, secret.LocalFile))
	for _, c := range changed {
		a.logger.Warn("state directory was open to other users; made private", "change", c)
	}
	if err != nil {
		<-gitc
		return err
	}
	st, err := store.Open(ctx, stateDir, store.Options{Logger: a.logger})
	git := <-gitc
	if err != nil {
		return err
	}
	defer func() {
		if a.exiting {
			st.Detach() // the exit closes it, without a checkpoint
		} else {
			st.Close()
		}
	}()
	rn = rn.With(st)
	if f.branch != "" {
		git.Branch = f.branch
	}
	prep.Spec.Branch, prep.Spec.Tag, prep.Spec.Commit = git.Branch, git.Tag, git.Commit
	phase("history opened, git read")
	runID, err := rn.Record(ctx, prep)
	if err != nil {
		return err
	}
	phase("run recorded")
	r := a.newRenderer(allowFailure(prep.Plan))
	res, err := rn.Execute(ctx, prep, runID, r)
	if err != nil {
		r.Finish(&pipeline.Result{RunID: strconv.FormatInt(runID, 10), Status: pipeline.StatusFailed})
		return err
	}
	phase("run finished")
	r.Finish(res)
	if err := rn.Close(); err != nil {
		a.logger.Warn("cannot save what the cache learned about input files", "err", err)
	}
	phase("history written")
	return runExit(runID, res.Status)
}

// runExit is the command's answer for a run that ended with status.
func runExit(runID int64, status pipeline.Status) error {
	switch status {
	case pipeline.StatusSuccess:
		return nil
	case pipeline.StatusCancelled:
		return silentError{fmt.Errorf("%w: run %d cancelled", errFailed, runID)}
	default:
		return silentError{fmt.Errorf("%w: run %d %s", errFailed, runID, status)}
	}
}

// localSecrets resolves secrets as `tug run` does: the secret store,
// then the environment, then ws's .tug/secrets.env; it makes every later
// output mask the values.
func (a *app) localSecrets(cfg *config.Config, ws string) func(context.Context, []string) (map[string]secret.Value, error) {
	src := a.secretSources(cfg, ws)
	return func(ctx context.Context, names []string) (map[string]secret.Value, error) {
		values, err := src.Values(ctx, names)
		if err != nil {
			return nil, err
		}
		list := make([]secret.Value, 0, len(values))
		for _, v := range values {
			list = append(list, v)
		}
		m, warnings := secret.NewMasker(list...)
		for _, w := range warnings {
			fmt.Fprintln(a.errOut, "tug: warning: "+w)
		}
		a.masker = m
		return values, nil
	}
}

// printExplanations prints --explain's answers.
func (a *app) printExplanations(list []runner.Explanation) error {
	for _, ex := range list {
		if a.jsonOut {
			data, err := json.Marshal(ex)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, a.mask(string(data)))
			continue
		}
		fmt.Fprint(a.out, a.mask(ex.Text()))
	}
	return nil
}

// checkEvent refuses a run for an event the pipeline's on: does not name,
// unless --force, and an --event tug does not know.
func checkEvent(cfg *config.Config, name string, f runFlags) error {
	p := cfg.Pipelines[name]
	if p == nil {
		_, err := pipeline.NewPlan(cfg, name) // the unknown-pipeline error
		return err
	}
	if !slices.Contains(config.RunEvents(), f.event) {
		return badInputf("--event %q: unknown event%s; events: %s", f.event, kit.DidYouMean(f.event, config.RunEvents()), strings.Join(config.RunEvents(), ", "))
	}
	if f.force || p.Allows(f.event) {
		return nil
	}
	hint := "--event " + p.Events()[0]
	return badInputf("pipeline %s runs on %s, not %s: run it with %s, add %s to its on:, or pass --force",
		name, joinOr(p.Events()), f.event, hint, f.event)
}

// joinOr is "a", "a or b", "a, b or c".
func joinOr(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// pickPipeline is the pipeline run when none is named: the only one, or
// "ci".
func pickPipeline(cfg *config.Config) string {
	if len(cfg.Pipelines) == 1 {
		for n := range cfg.Pipelines {
			return n
		}
	}
	return defaultPipeline
}

// allowFailure tells whether a job instance may fail without failing the run.
func allowFailure(plan *pipeline.Plan) func(string) bool {
	allowed := map[string]bool{}
	for _, j := range plan.Jobs {
		if j.Config != nil && j.Config.AllowFailure {
			allowed[j.Name] = true
		}
	}
	return func(name string) bool { return allowed[name] }
}

// newRenderer picks the output: JSON events, a live terminal view, or
// plain prefixed lines.
func (a *app) newRenderer(allow func(string) bool) renderer {
	switch {
	case a.jsonOut:
		return newJSONRenderer(a.out, a.mask)
	case a.tty:
		_, noColor := a.lookupEnv("NO_COLOR")
		return newTTYRenderer(a.out, a.mask, allow, a.termSize, time.Now, !noColor)
	default:
		return newPlainRenderer(a.out, a.mask, allow)
	}
}

// termSize is the terminal's size, 80x24 when it cannot be read.
func (a *app) termSize() (int, int) {
	var w, h int
	if a.termSizeFn != nil {
		w, h = a.termSizeFn()
	}
	if w <= 0 || h <= 0 {
		return 80, 24
	}
	return w, h
}
