// Package forge speaks to code forges (GitHub, GitLab, Gitea): it takes
// their push and tag webhooks, each checked with the forge's own
// signature scheme against a secret, and posts commit statuses back.
package forge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/google/go-github/v75/github"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/trigger"
)

// Sentinel errors of the webhooks; the API maps them to statuses.
var (
	// ErrSignature: a missing or bad signature (401); nothing runs.
	ErrSignature = errors.New("webhook signature check failed")
	// ErrPayload: a body that is not the forge's push payload (400).
	ErrPayload = errors.New("malformed webhook payload")
	// ErrNoHooks: the server takes no webhooks.
	ErrNoHooks = errors.New("this server takes no webhooks")
)

// maxPayload bounds a webhook's body (GitHub caps its own at 25 MB).
const maxPayload = 25 << 20

// Pusher is the run queue as webhooks use it; *runner.Queue implements
// it. Match says whether a forge repository (its full name, its URLs) is
// the server's, and gives the server repository's remote URL that points
// at it, which is what is fetched (never an URL only the payload names).
// OnPush queues the runs of pushes. Both are safe for concurrent use and
// honour ctx.
type Pusher interface {
	Match(ctx context.Context, fullName string, urls ...string) (remote string, ok bool)
	OnPush(ctx context.Context, src runner.PushSource, pushes []trigger.Push) ([]runner.RunInfo, error)
}

var _ Pusher = (*runner.Queue)(nil)

// HooksOptions wire Hooks. Pusher and Config are required.
type HooksOptions struct {
	Pusher Pusher
	// Config is the config in force: server.webhooks names each forge's
	// secret.
	Config func() *config.Config
	// Secrets resolves secret names.
	Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)
	Logger  *slog.Logger
}

// Hooks serves the forges' webhooks.
type Hooks struct {
	o   HooksOptions
	log *slog.Logger
}

// NewHooks returns the webhook handlers.
func NewHooks(o HooksOptions) *Hooks {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hooks{o: o, log: o.Logger}
}

// HookAnswer is what a webhook is answered: the runs it queued, or why
// nothing ran.
type HookAnswer struct {
	Runs    []runner.RunInfo `json:"runs"`
	Ignored string           `json:"ignored,omitempty"`
}

// The webhook operations. They authenticate the sender by its
// signature, not an API token.
var (
	OpGitHub = endpoint.Declare[endpoint.None, json.RawMessage, HookAnswer](http.MethodPost, "/hooks/github", endpoint.Deployer,
		"A GitHub push webhook, signed with X-Hub-Signature-256 (HMAC-SHA256 of the body with server.webhooks.github's secret): queues the runs the push starts.").Signed()
	OpGitLab = endpoint.Declare[endpoint.None, json.RawMessage, HookAnswer](http.MethodPost, "/hooks/gitlab", endpoint.Deployer,
		"A GitLab push or tag push webhook, authenticated by X-Gitlab-Token (server.webhooks.gitlab's secret): queues the runs it starts.").Signed()
	OpGitea = endpoint.Declare[endpoint.None, json.RawMessage, HookAnswer](http.MethodPost, "/hooks/gitea", endpoint.Deployer,
		"A Gitea push webhook, signed with X-Gitea-Signature (HMAC-SHA256 of the body with server.webhooks.gitea's secret): queues the runs the push starts.").Signed()
)

// Ops binds the webhook operations to h (nil answers ErrNoHooks).
func Ops(h *Hooks) []endpoint.Op {
	bind := func(forge string) func(w http.ResponseWriter, r *http.Request, _ endpoint.None) error {
		return func(w http.ResponseWriter, r *http.Request, _ endpoint.None) error {
			if h == nil {
				return ErrNoHooks
			}
			ans, err := h.Serve(r, forge)
			if err != nil {
				return err
			}
			endpoint.WriteJSON(w, http.StatusOK, ans)
			return nil
		}
	}
	return []endpoint.Op{
		OpGitHub.Write(endpoint.MediaJSON, bind("github")),
		OpGitLab.Write(endpoint.MediaJSON, bind("gitlab")),
		OpGitea.Write(endpoint.MediaJSON, bind("gitea")),
	}
}

// push is what a forge's push payload says.
type push struct {
	ref, before, after string
	fullName           string
	urls               []string
}

// Serve checks one webhook of forge and queues the runs it starts. A
// bad or missing signature is ErrSignature (logged; nothing runs), an
// unknown repository runner.ErrUnknownRepository, a body that does not
// parse ErrPayload. Events other than pushes are answered and ignored.
func (h *Hooks) Serve(r *http.Request, forge string) (*HookAnswer, error) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrPayload, err)
	}
	if len(body) > maxPayload {
		return nil, fmt.Errorf("%w: the body is over %d bytes", ErrPayload, maxPayload)
	}
	key, err := h.secret(ctx, forge)
	if err == nil {
		err = verify(r, forge, body, key)
	}
	if err != nil {
		h.log.Warn("webhook refused: bad or missing signature", "forge", forge, "remote", r.RemoteAddr, "err", err)
		return nil, err
	}
	event := eventOf(r, forge)
	if event != "push" {
		return &HookAnswer{Runs: []runner.RunInfo{}, Ignored: "event " + event + " starts no run"}, nil
	}
	p, err := parse(r, forge, body)
	if err != nil {
		return nil, err
	}
	remote, ok := h.o.Pusher.Match(ctx, p.fullName, p.urls...)
	if !ok {
		h.log.Warn("webhook for an unknown repository", "forge", forge, "repository", p.fullName)
		return nil, fmt.Errorf("%w: %s is not a remote of the server's repository", runner.ErrUnknownRepository, p.fullName)
	}
	runs, err := h.o.Pusher.OnPush(ctx, runner.PushSource{Repo: remote, Origin: runner.OriginWebhook, Trigger: forge, Repository: p.fullName},
		[]trigger.Push{{Ref: p.ref, Old: p.before, New: p.after}})
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []runner.RunInfo{}
	}
	return &HookAnswer{Runs: runs}, nil
}

// secret is the forge's webhook secret; a forge without one configured
// (or whose secret is empty) has every webhook refused.
func (h *Hooks) secret(ctx context.Context, forge string) ([]byte, error) {
	cfg := h.o.Config()
	var name string
	if cfg != nil && cfg.Server != nil && cfg.Server.Webhooks[forge] != nil {
		name = cfg.Server.Webhooks[forge].Secret
	}
	if name == "" {
		return nil, fmt.Errorf("%w: no server.webhooks.%s.secret is configured", ErrSignature, forge)
	}
	if h.o.Secrets == nil {
		return nil, fmt.Errorf("%w: no secret source", ErrSignature)
	}
	vals, err := h.o.Secrets(ctx, []string{name})
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s: %v", ErrSignature, name, err)
	}
	v := vals[name].Reveal()
	if v == "" {
		return nil, fmt.Errorf("%w: secret %s is empty", ErrSignature, name)
	}
	return []byte(v), nil
}

// verify checks a webhook's signature the forge's way.
func verify(r *http.Request, forge string, body, key []byte) error {
	switch forge {
	case "github":
		sig := r.Header.Get(github.SHA256SignatureHeader)
		if sig == "" {
			return fmt.Errorf("%w: no %s header", ErrSignature, github.SHA256SignatureHeader)
		}
		if err := github.ValidateSignature(sig, body, key); err != nil {
			return fmt.Errorf("%w: %v", ErrSignature, err)
		}
	case "gitea":
		// Gitea signs as GitHub does, hex HMAC-SHA256, without the prefix.
		sig := r.Header.Get("X-Gitea-Signature")
		if sig == "" || strings.Contains(sig, "=") {
			return fmt.Errorf("%w: no X-Gitea-Signature header", ErrSignature)
		}
		if err := github.ValidateSignature("sha256="+sig, body, key); err != nil {
			return fmt.Errorf("%w: %v", ErrSignature, err)
		}
	case "gitlab":
		tok := r.Header.Get("X-Gitlab-Token")
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), key) != 1 {
			return fmt.Errorf("%w: X-Gitlab-Token does not match", ErrSignature)
		}
	default:
		return fmt.Errorf("%w: unknown forge %q", ErrSignature, forge)
	}
	return nil
}

// eventOf is "push" for the forge's push and tag push events, else the
// forge's name of the event.
func eventOf(r *http.Request, forge string) string {
	switch forge {
	case "github":
		return github.WebHookType(r)
	case "gitea":
		return r.Header.Get("X-Gitea-Event")
	case "gitlab":
		switch ev := r.Header.Get("X-Gitlab-Event"); ev {
		case "Push Hook", "Tag Push Hook":
			return "push"
		default:
			return ev
		}
	}
	return ""
}

// gitlabPush is the part of GitLab's push and tag push payloads tug reads.
type gitlabPush struct {
	ObjectKind string `json:"object_kind"`
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Project    struct {
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
		GitSSHURL         string `json:"git_ssh_url"`
		WebURL            string `json:"web_url"`
	} `json:"project"`
}

// parse reads a push payload; GitHub's (and Gitea's, which has its
// shape) through go-github's types.
func parse(r *http.Request, forge string, body []byte) (*push, error) {
	if forge == "github" {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			b, err := github.ValidatePayloadFromBody(mt, strings.NewReader(string(body)), "", nil)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrPayload, err)
			}
			body = b
		}
	}
	var p push
	switch forge {
	case "github", "gitea":
		ev, err := github.ParseWebHook("push", body)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPayload, err)
		}
		pe, _ := ev.(*github.PushEvent)
		if pe == nil || pe.GetRepo() == nil {
			return nil, fmt.Errorf("%w: no repository", ErrPayload)
		}
		repo := pe.GetRepo()
		p = push{ref: pe.GetRef(), before: pe.GetBefore(), after: pe.GetAfter(), fullName: repo.GetFullName(),
			urls: []string{repo.GetCloneURL(), repo.GetSSHURL(), repo.GetHTMLURL(), repo.GetGitURL()}}
	case "gitlab":
		var gp gitlabPush
		if err := json.Unmarshal(body, &gp); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPayload, err)
		}
		p = push{ref: gp.Ref, before: gp.Before, after: gp.After, fullName: gp.Project.PathWithNamespace,
			urls: []string{gp.Project.GitHTTPURL, gp.Project.GitSSHURL, gp.Project.WebURL}}
	}
	switch {
	case !strings.HasPrefix(p.ref, "refs/"):
		return nil, fmt.Errorf("%w: ref %q is not a full ref name", ErrPayload, p.ref)
	case p.fullName == "":
		return nil, fmt.Errorf("%w: no repository name", ErrPayload)
	case !hexSHA(p.after):
		return nil, fmt.Errorf("%w: after %q is not a commit", ErrPayload, p.after)
	}
	return &p, nil
}

func hexSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
