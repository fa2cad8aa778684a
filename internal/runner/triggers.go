package runner

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/trigger"
)

// PushSource says where pushed commits come from.
type PushSource struct {
	// Repo is what to fetch them from: a repository's path or a clone
	// URL; "" is the server's own repository.
	Repo string
	// Origin is push or webhook; Trigger who sent it (a forge, a hook).
	Origin, Trigger string
	// Repository is the forge's name of it ("owner/name"), for commit
	// statuses; "" derives it from the server repository's remote.
	Repository string
}

// OnPush queues a run of every pipeline each push starts, per the
// pushed commit's own tug.yaml: one run per new head. A commit whose
// tug.yaml is invalid gets failed runs showing its errors (of the
// pipelines the server's config says the push starts); the server's
// config stays. Deletions and other refs start nothing. A push seen
// again (a webhook's redelivery, one both watched and posted) starts
// nothing new: the run it started is answered.
func (q *Queue) OnPush(ctx context.Context, src PushSource, pushes []trigger.Push) ([]RunInfo, error) {
	var starting []trigger.Push
	for _, p := range pushes {
		if p.Event() != "" {
			starting = append(starting, p)
		}
	}
	if len(starting) == 0 {
		return nil, nil
	}
	from := src.Repo
	if from == "" {
		from = q.repo
	}
	var heads []string
	for _, p := range starting {
		heads = append(heads, p.New)
	}
	mirror, err := q.mirrors.ensure(ctx, from, heads...)
	if err != nil {
		return nil, err
	}
	if src.Repository == "" {
		src.Repository = q.repositoryName(ctx)
	}
	var out []RunInfo
	for _, p := range starting {
		spec := Spec{Event: p.Event(), Origin: src.Origin, Trigger: src.Trigger, Branch: p.Branch(), Tag: p.Tag(),
			Commit: p.New, Source: mirror, Repository: src.Repository}
		cfg, cerr := q.configAt(ctx, mirror, p.New)
		if cerr != nil {
			var names []string
			if q.o.Config != nil && q.o.Config() != nil {
				names = trigger.Pipelines(q.o.Config(), p)
			}
			q.log.Warn("runs: the pushed tug.yaml is invalid; the server keeps its config", "ref", p.Ref, "commit", ShortID(p.New), "err", cerr)
			runs, err := q.RecordInvalid(ctx, spec, names, cerr)
			out = append(out, runs...)
			if err != nil {
				return out, err
			}
			continue
		}
		for _, name := range trigger.Pipelines(cfg, p) {
			s := spec
			s.Pipeline = name
			info, queued, err := q.enqueue(ctx, s, cfg, true)
			if err != nil {
				return out, err
			}
			if queued {
				q.log.Info("runs: queued for a push", "run", info.ID, "pipeline", name, "ref", p.Ref, "commit", ShortID(p.New), "origin", src.Origin)
			} else {
				q.log.Info("runs: a push already started this run", "run", info.ID, "pipeline", name, "ref", p.Ref, "commit", ShortID(p.New), "origin", src.Origin)
			}
			out = append(out, *info)
		}
	}
	return out, nil
}

// configAt loads the tug.yaml of commit in gitDir.
func (q *Queue) configAt(ctx context.Context, gitDir, commit string) (*config.Config, error) {
	data, err := showFile(ctx, gitDir, commit, q.cfgRel)
	if err != nil {
		return nil, err
	}
	return config.Parse(q.cfgRel, data, config.LoadOptions{LookupEnv: q.o.LookupEnv})
}

// StartRequest is the body of POST /api/runs: `tug run --remote`'s flags.
type StartRequest struct {
	// Pipeline to run; "" is the only one, or ci.
	Pipeline string   `json:"pipeline,omitempty"`
	Jobs     []string `json:"jobs,omitempty"`
	NoCache  bool     `json:"no_cache,omitempty"`
	Parallel int      `json:"parallel,omitempty"`
	// Event is what if: sees (default manual); refused when the
	// pipeline's on: does not name it, unless Force.
	Event string `json:"event,omitempty"`
	Force bool   `json:"force,omitempty"`
	// Branch whose head is run; "" is the server repository's current
	// branch.
	Branch string `json:"branch,omitempty"`
	Who    string `json:"who,omitempty"`
}

// Start queues a run as a person asks for it (manual), or a schedule.
func (q *Queue) Start(ctx context.Context, req StartRequest, origin string) (*RunInfo, error) {
	if req.Event == "" {
		req.Event = config.EventManual
	}
	if req.Parallel < 0 {
		return nil, fmt.Errorf("%w: parallel %d: want a positive number (0: one per CPU)", ErrBadRequest, req.Parallel)
	}
	branch := req.Branch
	var err error
	if branch == "" {
		if branch, err = git(ctx, q.repo, "symbolic-ref", "--quiet", "--short", "HEAD"); err != nil {
			return nil, fmt.Errorf("%w: the server's repository is on no branch: name one", ErrBadRequest)
		}
	}
	commit, err := git(ctx, q.repo, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("%w: no branch %q in the server's repository", ErrBadRequest, branch)
	}
	mirror, err := q.mirrors.ensure(ctx, q.repo, commit)
	if err != nil {
		return nil, err
	}
	cfg, err := q.configAt(ctx, mirror, commit)
	if err != nil {
		return nil, err
	}
	name := req.Pipeline
	if name == "" {
		name = DefaultPipeline(cfg)
	}
	plan, err := pipeline.NewPlan(cfg, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if _, err := pipeline.Select(plan, req.Jobs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if p := cfg.Pipelines[name]; !req.Force && !p.Allows(req.Event) {
		return nil, fmt.Errorf("%w: pipeline %s runs on %v, not %s (force to run it anyway)", ErrEventRefused, name, p.Events(), req.Event)
	}
	who := req.Who
	if who == "" {
		who = origin
	}
	spec := Spec{Pipeline: name, Jobs: req.Jobs, NoCache: req.NoCache, Parallel: req.Parallel, Event: req.Event,
		Origin: origin, Trigger: who, Branch: branch, Commit: commit, Source: mirror, Repository: q.repositoryName(ctx)}
	return q.Enqueue(ctx, spec, cfg)
}

// Scheduled queues a run of pipeline for a schedule's tick, at the head
// of the server repository's current branch.
func (q *Queue) Scheduled(ctx context.Context, pipelineName string, at time.Time) {
	info, err := q.Start(ctx, StartRequest{Pipeline: pipelineName, Event: config.EventSchedule, Who: "schedule " + at.UTC().Format(time.RFC3339)}, OriginSchedule)
	if err != nil {
		q.log.Error("runs: a scheduled run could not be queued", "pipeline", pipelineName, "tick", at, "err", err)
		return
	}
	q.log.Info("runs: queued for a schedule", "run", info.ID, "pipeline", pipelineName, "tick", at)
}

// DefaultPipeline is the pipeline run when none is named: the only one,
// or "ci".
func DefaultPipeline(cfg *config.Config) string {
	if len(cfg.PipelineOrder) == 1 {
		return cfg.PipelineOrder[0]
	}
	return "ci"
}

// remotes are the URLs of the server repository's remotes.
func (q *Queue) remotes(ctx context.Context) []string {
	out, err := git(ctx, q.repo, "config", "--get-regexp", `^remote\..*\.url$`)
	if err != nil {
		return nil
	}
	var urls []string
	for _, line := range strings.Split(out, "\n") {
		if _, u, ok := strings.Cut(line, " "); ok {
			urls = append(urls, u)
		}
	}
	return urls
}

// repositoryName is "owner/name" of the server repository's first remote.
func (q *Queue) repositoryName(ctx context.Context) string {
	for _, u := range q.remotes(ctx) {
		if n := RepoName(u); n != "" {
			return n
		}
	}
	return ""
}

// Match says whether a forge's repository (its full name, its URLs) is
// the server's: one of its remotes points at it. remote is that remote's
// URL, the one to fetch from.
func (q *Queue) Match(ctx context.Context, fullName string, urls ...string) (remote string, ok bool) {
	for _, r := range q.remotes(ctx) {
		nr := normalURL(r)
		for _, u := range urls {
			if u != "" && normalURL(u) == nr {
				return r, true
			}
		}
		if fullName != "" && strings.EqualFold(RepoName(r), fullName) {
			return r, true
		}
	}
	return "", false
}

// normalURL reduces a git URL to host/path (or a clean local path), so
// https, ssh and scp-like forms of one repository compare equal.
func normalURL(u string) string {
	u = strings.TrimSpace(u)
	if strings.HasPrefix(u, "/") {
		return strings.TrimSuffix(filepath.Clean(u), ".git")
	}
	if p, err := url.Parse(u); err == nil && p.Scheme != "" && p.Host != "" {
		u = p.Hostname() + "/" + strings.TrimPrefix(p.Path, "/")
	} else if at, rest, ok := strings.Cut(u, "@"); ok && !strings.Contains(at, "/") {
		u = strings.Replace(rest, ":", "/", 1) // git@host:owner/name
	} else if p != nil && p.Scheme == "file" {
		u = p.Path
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git"))
}

// RepoName is "owner/name" of a git URL, or "" for a local path.
func RepoName(u string) string {
	n := normalURL(u)
	if strings.HasPrefix(n, "/") {
		return ""
	}
	parts := strings.Split(n, "/")
	if len(parts) < 3 {
		return ""
	}
	return path.Join(parts[1:]...)
}
