package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// StatusOptions wire Statuses. Config is required.
type StatusOptions struct {
	// Config is the config in force: notify.commit_status says where
	// statuses go.
	Config func() *config.Config
	// Secrets resolves the token's secret name.
	Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)
	// Client sends the requests; nil is a client with a 10s timeout.
	Client *http.Client
	Logger *slog.Logger
}

// Statuses posts each run's state to the forge as a commit status, one
// context per pipeline ("tug/ci"): pending when it starts, then success
// or failure. It implements runner.StatusReporter.
type Statuses struct {
	o   StatusOptions
	log *slog.Logger
}

var _ runner.StatusReporter = (*Statuses)(nil)

// NewStatuses returns the commit status poster.
func NewStatuses(o StatusOptions) *Statuses {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Statuses{o: o, log: o.Logger}
}

// Report implements runner.StatusReporter.
func (s *Statuses) Report(ctx context.Context, run runner.RunInfo) {
	cfg := s.o.Config()
	if cfg == nil || cfg.Notify == nil || cfg.Notify.CommitStatus == nil || run.Commit == "" {
		return
	}
	cs := cfg.Notify.CommitStatus
	log := s.log.With("forge", cs.Forge, "run", run.ID, "commit", runner.ShortID(run.Commit))
	if run.Repository == "" {
		log.Warn("commit status not posted: the run's repository has no forge name (add a remote pointing at the forge)")
		return
	}
	if s.o.Secrets == nil {
		log.Warn("commit status not posted: no secret source")
		return
	}
	vals, err := s.o.Secrets(ctx, []string{cs.TokenSecret})
	if err != nil {
		log.Warn("commit status not posted: the token secret", "secret", cs.TokenSecret, "err", err)
		return
	}
	req, err := statusRequest(ctx, cs, vals[cs.TokenSecret], run)
	if err != nil {
		log.Warn("commit status not posted", "err", err)
		return
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		log.Warn("commit status not posted", "err", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		log.Warn("commit status refused by the forge", "status", resp.Status, "answer", strings.TrimSpace(string(b)))
		return
	}
	log.Debug("commit status posted", "state", run.Status)
}

// statusRequest is the forge's "create a commit status" request, as each
// documents it:
//
//	github: POST {api}/repos/{owner}/{repo}/statuses/{sha}
//	        {state: pending|success|failure|error, target_url, description, context}
//	gitea:  POST {url}/api/v1/repos/{owner}/{repo}/statuses/{sha}, the same body
//	gitlab: POST {url}/api/v4/projects/{id}/statuses/{sha}
//	        {state: pending|running|success|failed|canceled, name, description, target_url}
func statusRequest(ctx context.Context, cs *config.CommitStatus, token secret.Value, run runner.RunInfo) (*http.Request, error) {
	base := strings.TrimSuffix(cs.URL, "/")
	name := "tug/" + run.Pipeline
	desc := describe(run)
	var (
		target string
		body   any
		header = http.Header{"Content-Type": {"application/json"}}
	)
	switch cs.Forge {
	case "github":
		api := base + "/api/v3"
		if u, err := url.Parse(base); err == nil && (u.Host == "github.com" || u.Host == "www.github.com") {
			api = "https://api.github.com"
		}
		target = api + "/repos/" + run.Repository + "/statuses/" + run.Commit
		body = map[string]string{"state": githubState(run.Status), "description": desc, "context": name}
		header.Set("Accept", "application/vnd.github+json")
		header.Set("Authorization", "Bearer "+token.Reveal())
	case "gitea":
		target = base + "/api/v1/repos/" + run.Repository + "/statuses/" + run.Commit
		body = map[string]string{"state": githubState(run.Status), "description": desc, "context": name}
		header.Set("Authorization", "token "+token.Reveal())
	case "gitlab":
		target = base + "/api/v4/projects/" + url.PathEscape(run.Repository) + "/statuses/" + run.Commit
		body = map[string]string{"state": gitlabState(run.Status), "description": desc, "name": name}
		header.Set("PRIVATE-TOKEN", token.Reveal())
	default:
		return nil, fmt.Errorf("unknown forge %q", cs.Forge)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header = header
	return req, nil
}

// describe is the status's one-line description.
func describe(run runner.RunInfo) string {
	switch run.Status {
	case store.StatusPending, store.StatusQueued, store.StatusRunning:
		return fmt.Sprintf("run %d of %s is running", run.ID, run.Pipeline)
	case store.StatusSuccess:
		return fmt.Sprintf("run %d of %s passed", run.ID, run.Pipeline)
	}
	d := fmt.Sprintf("run %d of %s %s", run.ID, run.Pipeline, run.Status)
	if run.Reason != "" {
		d += ": " + run.Reason
	}
	if len(d) > 140 {
		d = d[:137] + "..."
	}
	return d
}

func githubState(status string) string {
	switch status {
	case store.StatusPending, store.StatusQueued, store.StatusRunning, store.StatusWaiting:
		return "pending"
	case store.StatusSuccess:
		return "success"
	case store.StatusCancelled, store.StatusInterrupted:
		return "error"
	}
	return "failure"
}

func gitlabState(status string) string {
	switch status {
	case store.StatusPending, store.StatusQueued:
		return "pending"
	case store.StatusRunning, store.StatusWaiting:
		return "running"
	case store.StatusSuccess:
		return "success"
	case store.StatusCancelled, store.StatusInterrupted:
		return "canceled"
	}
	return "failed"
}
