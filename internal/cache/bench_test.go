package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// BenchmarkUnchangedRerun50Jobs measures the cache's share of an unchanged
// rerun: 50 jobs of 10 input files each, looked up (and artifacts
// restored) 8 at a time, as the engine would.
func BenchmarkUnchangedRerun50Jobs(b *testing.B) {
	ws := b.TempDir()
	c, err := New(filepath.Join(ws, ".tug"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	const jobs, files = 50, 10
	reqs := func(run string) []*pipeline.CacheRequest {
		out := make([]*pipeline.CacheRequest, jobs)
		for i := range jobs {
			name := fmt.Sprintf("job%02d", i)
			j := &pipeline.Job{Name: name, Base: name, Script: "cat " + name + "/* > out/" + name,
				Config: &config.Job{Inputs: []string{name + "/**"}, Artifacts: []string{"out/" + name}}}
			out[i] = &pipeline.CacheRequest{RunID: run, Job: j, Dir: ws, Cacheable: true}
		}
		return out
	}
	for i := range jobs {
		for k := range files {
			p := filepath.Join(ws, fmt.Sprintf("job%02d", i), fmt.Sprintf("f%d.txt", k))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i, k), 200)), 0o644)
		}
		os.MkdirAll(filepath.Join(ws, "out"), 0o755)
		os.WriteFile(filepath.Join(ws, "out", fmt.Sprintf("job%02d", i)), []byte(strings.Repeat("x", 4096)), 0o644)
	}
	ctx := context.Background()
	for _, r := range reqs("cold") {
		if _, err := c.Lookup(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Save(ctx, r, []byte("log")); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		rs := reqs(fmt.Sprint("warm", n))
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, r := range rs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				res, err := c.Lookup(ctx, r)
				if err != nil || !res.Info.Hit {
					b.Errorf("%s: %v %+v", r.Job.Name, err, res)
				}
			})
		}
		wg.Wait()
	}
}
