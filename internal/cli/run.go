package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
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
	return cmd
}

// run loads, plans, resolves secrets, records and runs one pipeline.
// Nothing is started or recorded unless the input is good.
func (a *app) run(ctx context.Context, name string, f runFlags) error {
	if f.parallel < 0 {
		return badInputf("-j %d: want a positive number of parallel jobs (0: one per CPU)", f.parallel)
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
	plan, err := pipeline.NewPlan(cfg, name)
	if err != nil {
		return err
	}
	if f.graph {
		return a.printGraph(cfg.Pipelines[name], plan, f.format)
	}
	if f.format != "text" {
		return badInputf("--format is for --graph")
	}
	selected, err := selectJobs(plan, f.jobs)
	if err != nil {
		return err
	}
	for _, e := range f.explain {
		if _, err := selectJobs(plan, []string{e}); err != nil {
			return fmt.Errorf("--explain: %w", err)
		}
	}

	secrets, err := a.resolveSecrets(selected, ws)
	if err != nil {
		return err
	}
	phase("secrets resolved")
	if len(f.explain) > 0 {
		// A dry run: nothing runs, nothing is recorded.
		return a.explainDry(ctx, plan, ws, f.explain, secrets, f.noCache)
	}

	if err := checkEvent(cfg.Pipelines[name], name, f); err != nil {
		return err
	}

	// Ask git while the history database opens: both take a few ms.
	gitc := make(chan gitInfo, 1)
	go func() { gitc <- readGitInfo(ctx, ws) }()
	stateDir := a.stateDir()
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
	if f.branch != "" {
		git.Branch = f.branch
	}
	phase("history opened, git read")
	runID, err := st.CreateRun(ctx, &store.Run{
		Pipeline: name, Branch: git.Branch, Commit: git.Commit, Event: f.event, Trigger: "cli", Dir: ws,
	})
	if err != nil {
		return err
	}
	rec := newRecorder(st, runID, a.logger)
	phase("run recorded")

	opts := pipeline.Options{
		Executor:  &pipeline.Host{},
		Parallel:  f.parallel,
		Logger:    a.logger,
		LookupEnv: a.lookupEnv,
		Deployer:  a.deployJobs(),
		Scanner:   a.scanJobs(cfg, ws),
	}
	jc, err := cache.New(stateDir, cache.Options{MaxSize: int64(cfg.Cache.MaxSize), Logger: a.logger})
	if err != nil {
		a.logger.Warn("job cache unavailable; running every job", "err", err)
	} else {
		opts.Cache = jc
	}
	if needsContainers(selected) {
		d, err := pipeline.NewDocker(pipeline.DockerOptions{Logger: a.logger, LookupEnv: a.lookupEnv})
		if err != nil {
			a.logger.Warn("docker unavailable; container jobs will fail", "err", err)
		} else {
			opts.ContainerExecutor = d
		}
	}
	phase("cache opened")
	allow := allowFailure(plan)
	r := a.newRenderer(allow)
	opts.Observer = multiObserver{rec, r}

	res, err := pipeline.New(opts).Run(ctx, plan, pipeline.RunOptions{
		RunID: strconv.FormatInt(runID, 10),
		Dir:   ws,
		Only:  onlyIDs(plan, f.jobs),
		Context: pipeline.RunContext{
			Branch: git.Branch, Tag: git.Tag, Commit: git.Commit, Event: f.event,
		},
		Secrets: secrets,
		NoCache: f.noCache,
	})
	if err != nil {
		r.Finish(&pipeline.Result{RunID: strconv.FormatInt(runID, 10), Status: pipeline.StatusFailed})
		rec.Close(pipeline.StatusFailed)
		return err
	}
	phase("run finished")
	r.Finish(res)
	rec.Close(res.Status)
	phase("history written")
	if jc != nil {
		if err := jc.Close(); err != nil {
			a.logger.Warn("cannot save what the cache learned about input files", "err", err)
		}
	}
	switch res.Status {
	case pipeline.StatusSuccess:
		return nil
	case pipeline.StatusCancelled:
		return silentError{fmt.Errorf("%w: run %d cancelled", errFailed, runID)}
	default:
		return silentError{fmt.Errorf("%w: run %d failed", errFailed, runID)}
	}
}

// checkEvent refuses a run for an event the pipeline's on: does not name,
// unless --force, and an --event tug does not know.
func checkEvent(p *config.Pipeline, name string, f runFlags) error {
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

// selectJobs is the plan's jobs a run with --job only will start: the
// named ones (base or instance names) and everything they need. Manual
// jobs are left out unless named. Unknown names are bad input.
func selectJobs(plan *pipeline.Plan, only []string) ([]*pipeline.Job, error) {
	byName := map[string]*pipeline.Job{}
	var bases []string
	for _, j := range plan.Jobs {
		byName[j.Name] = j
		if !slices.Contains(bases, j.Base) {
			bases = append(bases, j.Base)
		}
	}
	if len(only) == 0 {
		var out []*pipeline.Job
		for _, j := range plan.Jobs {
			if j.Config == nil || j.Config.When != "manual" {
				out = append(out, j)
			}
		}
		return out, nil
	}
	want := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if want[name] {
			return
		}
		want[name] = true
		if j := byName[name]; j != nil {
			for _, n := range j.Needs {
				visit(n)
			}
		}
	}
	for _, n := range only {
		found := false
		for _, j := range plan.Jobs {
			if jobMatches(j.Name, n) {
				visit(j.Name)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q in pipeline %s%s; jobs: %s", pipeline.ErrUnknownJob, n, plan.Pipeline,
				kit.DidYouMean(n, bases), strings.Join(bases, ", "))
		}
	}
	var out []*pipeline.Job
	for _, j := range plan.Jobs {
		if want[j.Name] {
			out = append(out, j)
		}
	}
	return out, nil
}

// onlyIDs turns --job names (IDs, base names or names as the output shows
// them) into the instance IDs the engine selects by.
func onlyIDs(plan *pipeline.Plan, names []string) []string {
	var out []string
	for _, n := range names {
		for _, j := range plan.Jobs {
			if jobMatches(j.Name, n) && !slices.Contains(out, j.Name) {
				out = append(out, j.Name)
			}
		}
	}
	return out
}

// resolveSecrets finds every secret the selected jobs ask for before any
// job starts, prints warnings, and makes every later output mask them.
func (a *app) resolveSecrets(jobs []*pipeline.Job, ws string) (map[string]secret.Value, error) {
	var names []string
	for _, j := range jobs {
		if j.Config != nil {
			names = append(names, j.Config.Secrets...)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	values, warnings, err := secret.Resolve(names, ws, a.lookupEnv)
	for _, w := range warnings {
		fmt.Fprintln(a.errOut, "tug: warning: "+w)
	}
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

func needsContainers(jobs []*pipeline.Job) bool {
	for _, j := range jobs {
		if j.Image != "" {
			return true
		}
	}
	return false
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

// notCacheable says why the engine never takes job from the cache, or "".
func notCacheable(j *pipeline.Job) string {
	switch {
	case j == nil || j.Config == nil:
		return ""
	case len(j.Config.Inputs) == 0:
		return "no inputs declared"
	case j.Config.Deploy != nil:
		return "deploy job"
	case j.Config.When == "manual":
		return "manual job"
	}
	return ""
}

func planJob(plan *pipeline.Plan, name string) *pipeline.Job {
	for _, j := range plan.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

func matchesJob(plan *pipeline.Plan, instance, name string) bool {
	if instance == name {
		return true
	}
	for _, j := range plan.Jobs {
		if j.Name == instance {
			return j.Base == name
		}
	}
	return false
}

func shortKey(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}
