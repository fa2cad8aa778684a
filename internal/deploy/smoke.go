package deploy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
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
			resp.Body.Close()
			if resp.StatusCode != want {
				return fmt.Errorf("smoke check of %s: GET %s: %s, want %d", ref.ID, url, resp.Status, want)
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
		r.emit("health", "smoke check of %s passed", ref.ID)
	}
	return nil
}
