package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// smoke runs the service's smoke check against each new instance directly,
// before it takes traffic: a GET of smoke.path expecting expect_status
// (default 200), or the smoke.run command with TUG_SMOKE_URL set.
func (r *run) smoke(ctx context.Context, refs []instRef) error {
	s := r.p.Smoke
	if s == nil || (s.Path == "" && s.Run == "") {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	for _, ref := range refs {
		if err := r.smokeCheck(ctx, *s, ref); err != nil {
			return err
		}
		r.emit("health", "smoke check of %s passed", ref.ID)
	}
	return nil
}

// jobSmoke runs a deploy job's smoke checks once all traffic is on the
// new release, against each of its instances; an error sends traffic
// back (the caller aborts the deploy).
func (r *run) jobSmoke(ctx context.Context) error {
	if len(r.p.JobSmoke) == 0 {
		return nil
	}
	r.m.mu.Lock()
	var refs []instRef
	if st := r.m.states[r.k]; st != nil {
		if pl := st.pool(r.rel.ID); pl != nil {
			refs = slices.Clone(pl.Instances)
		}
	}
	r.m.mu.Unlock()
	ctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	for i, s := range r.p.JobSmoke {
		for _, ref := range refs {
			if err := r.smokeCheck(ctx, s, ref); err != nil {
				return fmt.Errorf("smoke[%d]: %w", i, err)
			}
		}
		r.emit("smoke", "smoke[%d] %s passed on %d instance(s)", i, smokeName(s), len(refs))
	}
	return nil
}

func smokeName(s config.Smoke) string {
	if s.Path != "" {
		return "GET " + s.Path
	}
	return "run"
}

// smokeCheck runs one smoke check against one instance.
func (r *run) smokeCheck(ctx context.Context, s config.Smoke, ref instRef) error {
	base := "http://" + ref.Addr
	if s.Path != "" {
		want := s.ExpectStatus
		if want == 0 {
			want = http.StatusOK
		}
		url := base + s.Path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("smoke check of %s: %w", ref.ID, err)
		}
		client := http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("smoke check of %s: GET %s: %w", ref.ID, url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("smoke check of %s: GET %s: %s, want %d", ref.ID, url, resp.Status, want)
		}
		if s.ExpectBody != "" && !strings.Contains(string(body), s.ExpectBody) {
			return fmt.Errorf("smoke check of %s: GET %s: the body does not contain %q (it begins %q)", ref.ID, url, s.ExpectBody, firstBytes(body, 120))
		}
	}
	if s.Run != "" {
		cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", s.Run)
		cmd.Dir = r.p.Dir
		if cmd.Dir == "" {
			cmd.Dir = r.m.opts.RepoDir
		}
		cmd.Env = append(os.Environ(), "TUG_SMOKE_URL="+base, "TUG_RELEASE="+r.rel.ID, "TUG_INSTANCE="+ref.ID)
		out, err := cmd.CombinedOutput()
		if err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) > logLines {
				lines = lines[len(lines)-logLines:]
			}
			return fmt.Errorf("smoke run of %s failed: %v\nlast lines:\n  %s", ref.ID, err, strings.Join(lines, "\n  "))
		}
	}
	return nil
}

func firstBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
