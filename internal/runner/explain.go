package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/secret"
)

// Explanation is --explain's answer for one job instance, also its JSON
// line with --json ("type": "explain").
type Explanation struct {
	Type string `json:"type"`
	Job  string `json:"job"`
	// NotCacheable says why the cache never skips the job ("" if it may).
	NotCacheable string              `json:"not_cacheable,omitempty"`
	Cache        *pipeline.CacheInfo `json:"cache,omitempty"`
	// Assumed lists needs whose key is known only once they ran (the cache
	// never skips them): taken as unchanged since the job's last cached run.
	Assumed []string `json:"assumed,omitempty"`
}

// Explain answers --explain without running or recording anything: it
// computes each named job's key from the workspace as it is now (and its
// needs' keys the same way) and compares it with the job's last cached
// entry, as the run would. Without a state directory there is no cache
// to compare with.
func (r *Runner) Explain(ctx context.Context, p *Prepared, names []string) ([]Explanation, error) {
	plan, ws, secrets, noCache := p.Plan, p.Dir, p.Secrets, p.Spec.NoCache
	for _, n := range names {
		if _, err := pipeline.Select(plan, []string{n}); err != nil {
			return nil, fmt.Errorf("--explain: %w", err)
		}
	}
	var jc *cache.Cache
	if _, err := os.Stat(r.o.StateDir); err == nil {
		if jc, err = cache.New(r.o.StateDir, cache.Options{Logger: r.o.Logger}); err != nil {
			return nil, err
		}
		defer jc.Close() // keep what hashing learned; nothing else is written
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	var docker pipeline.ImageResolver
	var out []Explanation
	keys := map[string]string{} // instance -> key a run would give it ("" unknown)
	known := map[string]bool{}
	var keyOf func(j *pipeline.Job) (Explanation, error)
	keyOf = func(j *pipeline.Job) (Explanation, error) {
		ex := Explanation{Type: "explain", Job: j.Name, NotCacheable: pipeline.NotCacheable(j)}
		if ex.NotCacheable != "" || jc == nil {
			return ex, nil
		}
		req := &pipeline.CacheRequest{
			Job: j, Dir: ws, Upstream: map[string]string{}, Cacheable: true, NoCache: noCache,
			SecretHashes: secretHashes(j, secrets),
		}
		for _, n := range j.Needs {
			need := planJob(plan, n)
			if need == nil {
				continue
			}
			if !known[n] {
				nex, err := keyOf(need)
				if err != nil {
					return ex, err
				}
				known[n] = true
				if nex.Cache != nil {
					keys[n] = nex.Cache.Key
				}
			}
			req.Upstream[n] = keys[n]
			if keys[n] == "" {
				ex.Assumed = append(ex.Assumed, n)
			}
		}
		if j.Image != "" {
			if docker == nil {
				d, err := pipeline.NewDocker(pipeline.DockerOptions{Logger: r.o.Logger, LookupEnv: r.o.LookupEnv})
				if err != nil {
					return ex, fmt.Errorf("job %s runs in image %s: %w", j.Name, j.Image, err)
				}
				docker = d
			}
			id, err := docker.ImageID(ctx, j.Image)
			if err != nil {
				r.o.Logger.Warn("resolve image ID", "image", j.Image, "err", err)
			}
			req.ImageID = id
		}
		info, err := jc.Explain(ctx, req)
		if err != nil {
			return ex, fmt.Errorf("explain %s: %w", j.Name, err)
		}
		ex.Cache = info
		return ex, nil
	}

	for _, j := range plan.Jobs {
		for _, n := range names {
			if !j.Matches(n) {
				continue
			}
			ex, err := keyOf(j)
			if err != nil {
				return nil, err
			}
			known[j.Name] = true
			if ex.Cache != nil {
				keys[j.Name] = ex.Cache.Key
			}
			out = append(out, ex)
			break
		}
	}
	return out, nil
}

func planJob(plan *pipeline.Plan, name string) *pipeline.Job {
	for _, j := range plan.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Text is the plain form: "explain JOB: <decision> (key K)", then one
// line per change and per assumption.
func (ex Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "explain %s: ", pipeline.DisplayName(ex.Job))
	switch c := ex.Cache; {
	case ex.NotCacheable != "":
		b.WriteString("not cacheable: " + ex.NotCacheable + "; it runs every time")
	case c == nil:
		b.WriteString("cache miss: no previous run")
	case c.Hit:
		fmt.Fprintf(&b, "cache hit (key %s)", ShortID(c.Key))
	default:
		b.WriteString("cache miss")
		if c.Miss != "" {
			b.WriteString(": " + c.Miss)
		}
		if c.Key != "" {
			fmt.Fprintf(&b, " (key %s)", ShortID(c.Key))
		}
	}
	b.WriteString("\n")
	if ex.Cache != nil && !ex.Cache.Hit {
		for _, ch := range ex.Cache.Changes {
			b.WriteString("  " + ch + "\n")
		}
	}
	for _, n := range ex.Assumed {
		fmt.Fprintf(&b, "  assumes %s (not cacheable) produces what it did last time\n", pipeline.DisplayName(n))
	}
	return b.String()
}

// secretHashes is what the engine gives the cache for j's secrets: the
// SHA-256 of each value, never the value.
func secretHashes(j *pipeline.Job, secrets map[string]secret.Value) map[string]string {
	if j.Config == nil || len(j.Config.Secrets) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range j.Config.Secrets {
		if v, ok := secrets[name]; ok {
			sum := sha256.Sum256([]byte(v.Reveal()))
			out[name] = hex.EncodeToString(sum[:])
		}
	}
	return out
}
