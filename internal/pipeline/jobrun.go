package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/report"
)

// jobInput is what a job goroutine needs from its needs' results, copied
// by the scheduler when the job starts.
type jobInput struct {
	// upstream maps each need to its cache key.
	upstream map[string]string
	// restore lists needs whose artifacts go into the workspace.
	restore []string
}

func (r *run) jobInput(st *jobState) jobInput {
	in := jobInput{upstream: map[string]string{}}
	for _, n := range st.job.Needs {
		need := r.byName[n]
		if need == nil {
			continue
		}
		if need.res.Cache != nil {
			in.upstream[n] = need.res.Cache.Key
		}
		if need.res.Status == StatusSuccess || need.res.Status == StatusCached {
			in.restore = append(in.restore, n)
		}
	}
	return in
}

// runJob runs one job to its end: artifacts in, cache lookup, attempts,
// reports, cache save. exited says whether ExitCode came from a script.
func (r *run) runJob(ctx context.Context, j *Job, in jobInput) (res JobResult, exited bool) {
	start := r.e.opts.Now()
	res = JobResult{Name: j.Name, Attempts: 1}
	defer func() { res.Duration = r.e.opts.Now().Sub(start) }()
	log := r.e.opts.Logger.With("run", r.ro.RunID, "job", j.Name)
	r.emit(Event{Type: EventJobStarted, Job: j.Name, Attempt: 1})

	fail := func(reason string) (JobResult, bool) {
		res.Status = StatusFailed
		res.Reason = r.masker.Mask(reason)
		res.ExitCode = -1
		return res, false
	}
	env, err := r.jobEnv(j)
	if err != nil {
		return fail(err.Error())
	}
	c := r.e.opts.Cache
	var req *CacheRequest
	if c != nil {
		for _, n := range in.restore {
			if err := c.Restore(ctx, r.ro.RunID, n, r.ro.Dir); err != nil {
				if ctx.Err() != nil {
					return r.cancelled(res), false
				}
				return fail(fmt.Sprintf("restore artifacts of %s: %v", n, err))
			}
		}
		req = &CacheRequest{
			RunID:        r.ro.RunID,
			Job:          j,
			Dir:          r.ro.Dir,
			Upstream:     in.upstream,
			SecretHashes: r.secretHashes(j),
			Cacheable:    NotCacheable(j) == "",
			NoCache:      r.ro.NoCache,
		}
		if ir, ok := r.e.opts.ContainerExecutor.(ImageResolver); ok && j.Image != "" {
			if req.ImageID, err = ir.ImageID(ctx, j.Image); err != nil {
				log.Warn("resolve image ID", "image", j.Image, "err", err)
			}
		}
		if req.Cacheable {
			hit, err := c.Lookup(ctx, req)
			switch {
			case err != nil && ctx.Err() != nil:
				return r.cancelled(res), false
			case err != nil:
				log.Warn("cache lookup failed; running the job", "err", err)
				res.Cache = &CacheInfo{Miss: r.masker.Mask("cache lookup failed: " + err.Error())}
			case hit != nil && hit.Info.Hit:
				info := hit.Info
				res.Cache = &info
				res.Status = StatusCached
				lw := r.logWriter(j.Name, 1, nil)
				lw.Write(hit.Log)
				lw.Flush()
				res.Report = r.summarize(j, log)
				return res, false
			case hit != nil:
				info := hit.Info
				res.Cache = &info
			}
		}
	}

	var out bytes.Buffer
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			r.emit(Event{Type: EventJobStarted, Job: j.Name, Attempt: attempt})
		}
		res.Attempts = attempt
		out.Reset()
		code, reason, retryable := r.attempt(ctx, j, env, attempt, &out)
		res.ExitCode = code
		exited = code >= 0
		if ctx.Err() != nil {
			return r.cancelled(res), exited
		}
		if reason == "" {
			res.Status = StatusSuccess
			res.Reason = ""
			break
		}
		res.Status = StatusFailed
		res.Reason = r.masker.Mask(reason)
		if !retryable || attempt > j.Config.Retry {
			break
		}
		lw := r.logWriter(j.Name, attempt, nil)
		fmt.Fprintf(lw, "tug: attempt %d of %d failed (%s); retrying\n", attempt, j.Config.Retry+1, res.Reason)
		lw.Flush()
	}

	res.Report = r.summarize(j, log)
	if c != nil && res.Status == StatusSuccess {
		info, err := c.Save(ctx, req, out.Bytes())
		if errors.Is(err, ErrOutsideWorkspace) {
			// The job left a link to files outside its workspace among
			// what it asked tug to keep: its author must hear of it.
			lw := r.logWriter(j.Name, res.Attempts, nil)
			fmt.Fprintf(lw, "tug: %v\n", err)
			lw.Flush()
			res, _ = fail(err.Error())
			return res, exited
		}
		if err != nil {
			log.Warn("cache save failed", "err", err)
		}
		res.Cache = mergeCacheInfo(res.Cache, info)
	}
	return res, exited
}

func (r *run) cancelled(res JobResult) JobResult {
	res.Status = StatusCancelled
	res.Reason = "run cancelled"
	return res
}

// mergeCacheInfo keeps the lookup's explanation and adds what Save knew.
func mergeCacheInfo(lookup, save *CacheInfo) *CacheInfo {
	if save == nil {
		return lookup
	}
	if lookup == nil {
		return save
	}
	merged := *lookup
	if merged.Key == "" {
		merged.Key = save.Key
	}
	merged.Evicted = save.Evicted
	return &merged
}

// attempt runs the job's script (or deploy) once. reason is "" on success;
// retryable is false for failures another attempt cannot fix.
func (r *run) attempt(ctx context.Context, j *Job, env []string, attempt int, keep *bytes.Buffer) (code int, reason string, retryable bool) {
	actx := ctx
	if t := j.Config.Timeout.D(); t > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	lw := r.logWriter(j.Name, attempt, keep)
	mw := r.masker.Writer(lw)
	defer func() {
		mw.Close()
		lw.Flush()
	}()

	timedOut := func() bool {
		return ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
	}
	if d := j.Config.Deploy; d != nil {
		if r.e.opts.Deployer == nil {
			return -1, "deploy jobs need tug server: start it with `tug server` (or `tug up`) and run the pipeline there", false
		}
		err := r.e.opts.Deployer.Deploy(actx, DeployRequest{
			Service: d.Service, Environment: d.Environment, Revision: r.ro.Context.Commit, Smoke: j.Config.Smoke,
			Waiting: func(reason string) {
				r.emit(Event{Type: EventJobWaiting, Job: j.Name, Attempt: attempt, Status: StatusWaiting, Reason: r.masker.Mask(reason)})
			},
			Resumed: func() { r.emit(Event{Type: EventJobResumed, Job: j.Name, Attempt: attempt, Status: StatusRunning}) },
		}, mw)
		switch {
		case err == nil:
			return 0, "", false
		case timedOut():
			return -1, "timed out after " + shortDuration(j.Config.Timeout.D()), true
		default:
			return 1, "deploy " + d.Service + ": " + err.Error(), true
		}
	}

	if sc := j.Config.Scan; sc != nil {
		if r.e.opts.Scanner == nil {
			return -1, "scan jobs are not available here", false
		}
		sum, err := r.e.opts.Scanner.Scan(actx, r.ro.Dir, sc, mw)
		if sum != nil {
			r.scans.Store(j.Name, sum.BySeverity)
		}
		switch {
		case timedOut():
			return -1, "timed out after " + shortDuration(j.Config.Timeout.D()), true
		case err != nil:
			return -1, "scan: " + err.Error(), false
		case sum.Failing > 0:
			return 1, fmt.Sprintf("scan: %d new findings at or above %s", sum.Failing, sum.FailOn), false
		}
		return 0, "", false
	}
	if j.Config.BuildImage != nil {
		switch err := r.buildImage(actx, j, mw); {
		case err == nil:
			return 0, "", false
		case timedOut():
			return -1, "timed out after " + shortDuration(j.Config.Timeout.D()), true
		default:
			return 1, err.Error(), true
		}
	}

	ex := r.e.opts.Executor
	if j.Image != "" {
		ex = r.e.opts.ContainerExecutor
		if ex == nil {
			return -1, "job runs in image " + j.Image + " but no container executor is available (is the Docker engine running?)", false
		}
	}
	spec := &ExecSpec{
		Job:        j.Name,
		Script:     j.Script,
		Dir:        r.ro.Dir,
		Env:        env,
		SecretKeys: j.Config.Secrets,
		Image:      j.Image,
		Pull:       j.Config.Pull,
		KillGrace:  r.e.opts.KillGrace,
	}
	for _, s := range j.Config.Services {
		spec.Services = append(spec.Services, ServiceSpec{Name: s.Name, Image: s.Image, Env: envList(s.Env)})
	}
	code, err := ex.Exec(actx, spec, mw)
	switch {
	case timedOut():
		return -1, "timed out after " + shortDuration(j.Config.Timeout.D()), true
	case err != nil:
		return -1, err.Error(), true
	case code != 0:
		return code, fmt.Sprintf("exit code %d", code), true
	}
	return 0, "", false
}

// summarize reads the job's test reports, if it declares any.
func (r *run) summarize(j *Job, log interface{ Warn(string, ...any) }) *ReportSummary {
	if v, ok := r.scans.Load(j.Name); ok {
		return &ReportSummary{Findings: v.(map[string]int)}
	}
	rep := j.Config.Reports
	if rep == nil {
		return nil
	}
	s, err := report.Summarize(r.ro.Dir, rep.JUnit, rep.Coverage)
	if err != nil {
		log.Warn("read test reports", "err", err)
		return nil
	}
	if s == nil {
		return nil
	}
	return &ReportSummary{Passed: s.Passed, Failed: s.Failed, Skipped: s.Skipped, Failures: s.Failures, Coverage: s.Coverage}
}

// secretHashes hashes the values of the secrets a job uses, so a changed
// secret changes the cache key without the key revealing it.
func (r *run) secretHashes(j *Job) map[string]string {
	if len(j.Config.Secrets) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range j.Config.Secrets {
		if v, ok := r.ro.Secrets[name]; ok {
			sum := sha256.Sum256([]byte(v.Reveal()))
			out[name] = hex.EncodeToString(sum[:])
		}
	}
	return out
}

// shortDuration prints 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
