package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/secret"
)

// explanation is --explain's answer for one job instance, also its JSON
// line with --json ("type": "explain").
type explanation struct {
	Type string `json:"type"`
	Job  string `json:"job"`
	// NotCacheable says why the cache never skips the job ("" if it may).
	NotCacheable string              `json:"not_cacheable,omitempty"`
	Cache        *pipeline.CacheInfo `json:"cache,omitempty"`
	// Assumed lists needs whose key is known only once they ran (the cache
	// never skips them): taken as unchanged since the job's last cached run.
	Assumed []string `json:"assumed,omitempty"`
}

// explainDry answers --explain without running or recording anything: it
// computes each named job's key from the workspace as it is now (and its
// needs' keys the same way) and compares it with the job's last cached
// entry, as the run would.
func (a *app) explainDry(ctx context.Context, plan *pipeline.Plan, ws string, names []string,
	secrets map[string]secret.Value, noCache bool) error {
	var jc *cache.Cache
	stateDir := a.stateDir()
	if _, err := os.Stat(stateDir); err == nil {
		if jc, err = cache.New(stateDir, cache.Options{Logger: a.logger}); err != nil {
			return err
		}
		defer jc.Close() // keep what hashing learned; nothing else is written
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	var docker pipeline.ImageResolver
	var out []explanation
	keys := map[string]string{} // instance -> key a run would give it ("" unknown)
	known := map[string]bool{}
	var keyOf func(j *pipeline.Job) (explanation, error)
	keyOf = func(j *pipeline.Job) (explanation, error) {
		ex := explanation{Type: "explain", Job: j.Name, NotCacheable: notCacheable(j)}
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
				d, err := pipeline.NewDocker(pipeline.DockerOptions{Logger: a.logger, LookupEnv: a.lookupEnv})
				if err != nil {
					return ex, fmt.Errorf("job %s runs in image %s: %w", j.Name, j.Image, err)
				}
				docker = d
			}
			id, err := docker.ImageID(ctx, j.Image)
			if err != nil {
				a.logger.Warn("resolve image ID", "image", j.Image, "err", err)
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
			if !matchesJob(plan, j.Name, n) {
				continue
			}
			ex, err := keyOf(j)
			if err != nil {
				return err
			}
			known[j.Name] = true
			if ex.Cache != nil {
				keys[j.Name] = ex.Cache.Key
			}
			out = append(out, ex)
			break
		}
	}
	for _, ex := range out {
		if a.jsonOut {
			data, err := json.Marshal(ex)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, a.mask(string(data)))
			continue
		}
		fmt.Fprint(a.out, a.mask(ex.text()))
	}
	return nil
}

// text is the plain form: "explain JOB: <decision> (key K)", then one
// line per change and per assumption.
func (ex explanation) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "explain %s: ", displayName(ex.Job))
	switch c := ex.Cache; {
	case ex.NotCacheable != "":
		b.WriteString("not cacheable: " + ex.NotCacheable + "; it runs every time")
	case c == nil:
		b.WriteString("cache miss: no previous run")
	case c.Hit:
		fmt.Fprintf(&b, "cache hit (key %s)", shortKey(c.Key))
	default:
		b.WriteString("cache miss")
		if c.Miss != "" {
			b.WriteString(": " + c.Miss)
		}
		if c.Key != "" {
			fmt.Fprintf(&b, " (key %s)", shortKey(c.Key))
		}
	}
	b.WriteString("\n")
	if ex.Cache != nil && !ex.Cache.Hit {
		for _, ch := range ex.Cache.Changes {
			b.WriteString("  " + ch + "\n")
		}
	}
	for _, n := range ex.Assumed {
		fmt.Fprintf(&b, "  assumes %s (not cacheable) produces what it did last time\n", displayName(n))
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
