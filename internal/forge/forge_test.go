package forge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
	"github.com/tugdev/tug/internal/trigger"
)

const after = "0123456789abcdef0123456789abcdef01234567"

// fakePusher knows one repository and records the pushes it gets.
type fakePusher struct {
	mu     sync.Mutex
	pushes []trigger.Push
	srcs   []runner.PushSource
}

func (f *fakePusher) Match(_ context.Context, fullName string, urls ...string) (string, bool) {
	if fullName == "acme/shop" {
		return "/srv/git/shop.git", true
	}
	return "", false
}

func (f *fakePusher) OnPush(_ context.Context, src runner.PushSource, p []trigger.Push) ([]runner.RunInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, p...)
	f.srcs = append(f.srcs, src)
	return []runner.RunInfo{{ID: int64(len(f.pushes)), Pipeline: "ci", Commit: p[0].New}}, nil
}

func hooksFor(p Pusher) *Hooks {
	h, _ := hooksLogged(p)
	return h
}

// hooksLogged is hooksFor with what the hooks log.
func hooksLogged(p Pusher) (*Hooks, *testkit.SyncBuffer) {
	logger, logs := testkit.Logger()
	cfg := &config.Config{Server: &config.Server{Webhooks: map[string]*config.Webhook{
		"github": {Secret: "GH_HOOK"}, "gitlab": {Secret: "GL_HOOK"}, "gitea": {Secret: "GT_HOOK"},
	}}}
	return NewHooks(HooksOptions{Pusher: p, Config: func() *config.Config { return cfg }, Logger: logger,
		Secrets: func(_ context.Context, names []string) (map[string]secret.Value, error) {
			out := map[string]secret.Value{}
			for _, n := range names {
				out[n] = secret.New("s3cret-" + n)
			}
			return out, nil
		}}), logs
}

func sign(body, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// payloads as each forge sends a push of refs/heads/main of acme/shop.
func payload(forge string) string {
	if forge == "gitlab" {
		return `{"object_kind":"push","ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + after +
			`","project":{"path_with_namespace":"acme/shop","git_http_url":"https://gitlab.example.com/acme/shop.git"}}`
	}
	return `{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + after +
		`","repository":{"full_name":"acme/shop","clone_url":"https://git.example.com/acme/shop.git"}}`
}

func hookRequest(forge, body string, header map[string]string) *http.Request {
	r := httptest.NewRequest("POST", "/hooks/"+forge, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// TestWebhookSignatures: each forge's own check; a bad or missing
// signature runs nothing.
func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		forge   string
		good    map[string]string
		bad     []map[string]string
		eventOK map[string]string
	}{
		{"github",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(payload("github"), "s3cret-GH_HOOK")},
			[]map[string]string{
				{"X-GitHub-Event": "push"},
				{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(payload("github"), "wrong")},
				{"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=" + sign(payload("github"), "s3cret-GH_HOOK")}, // SHA-1 only: refused
			}, nil},
		{"gitea",
			map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(payload("gitea"), "s3cret-GT_HOOK")},
			[]map[string]string{
				{"X-Gitea-Event": "push"},
				{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(payload("gitea")+" ", "s3cret-GT_HOOK")},
			}, nil},
		{"gitlab",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret-GL_HOOK"},
			[]map[string]string{
				{"X-Gitlab-Event": "Push Hook"},
				{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret-GH_HOOK"},
			}, nil},
	} {
		p := &fakePusher{}
		h, logs := hooksLogged(p)
		for i, hdr := range tc.bad {
			if _, err := h.Serve(hookRequest(tc.forge, payload(tc.forge), hdr), tc.forge); !errors.Is(err, ErrSignature) {
				t.Errorf("%s bad %d: %v, want ErrSignature", tc.forge, i, err)
			}
		}
		if len(p.pushes) != 0 {
			t.Fatalf("%s: a badly signed webhook ran: %+v", tc.forge, p.pushes)
		}
		// Each refusal is logged, with the forge and the caller's address,
		// and never the secret.
		if got := strings.Count(logs.String(), `msg="webhook refused: bad or missing signature" forge=`+tc.forge+" remote=192.0.2.1:"); got != len(tc.bad) {
			t.Errorf("%s: %d refusals logged, want %d:\n%s", tc.forge, got, len(tc.bad), logs)
		}
		if strings.Contains(logs.String(), "s3cret") {
			t.Errorf("%s: the log holds the secret:\n%s", tc.forge, logs)
		}
		ans, err := h.Serve(hookRequest(tc.forge, payload(tc.forge), tc.good), tc.forge)
		if err != nil {
			t.Fatalf("%s: %v", tc.forge, err)
		}
		if len(ans.Runs) != 1 || len(p.pushes) != 1 || p.pushes[0].Ref != "refs/heads/main" || p.pushes[0].New != after {
			t.Errorf("%s: %+v %+v", tc.forge, ans, p.pushes)
		}
		if s := p.srcs[0]; s.Repo != "/srv/git/shop.git" || s.Origin != runner.OriginWebhook || s.Repository != "acme/shop" {
			t.Errorf("%s: fetched from %+v: want the server's remote, never the payload's URL", tc.forge, s)
		}
	}
}

// TestWebhookBadInput: an unknown repository, a malformed body, another
// event, a forge without a secret.
func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	p := &fakePusher{}
	h := hooksFor(p)
	signed := func(body string) map[string]string {
		return map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body, "s3cret-GH_HOOK")}
	}
	other := strings.Replace(payload("github"), "acme/shop", "evil/other", 1)
	if _, err := h.Serve(hookRequest("github", other, signed(other)), "github"); !errors.Is(err, runner.ErrUnknownRepository) {
		t.Errorf("unknown repository: %v", err)
	}
	for _, body := range []string{`{"ref":`, `{"ref":"main","after":"` + after + `","repository":{"full_name":"acme/shop"}}`,
		`{"ref":"refs/heads/main","after":"HEAD","repository":{"full_name":"acme/shop"}}`, `[]`} {
		if _, err := h.Serve(hookRequest("github", body, signed(body)), "github"); !errors.Is(err, ErrPayload) {
			t.Errorf("malformed %s: %v", body, err)
		}
	}
	ping := signed(`{"zen":"hi"}`)
	ping["X-GitHub-Event"] = "ping"
	if ans, err := h.Serve(hookRequest("github", `{"zen":"hi"}`, ping), "github"); err != nil || ans.Ignored == "" {
		t.Errorf("ping: %+v %v", ans, err)
	}
	none := NewHooks(HooksOptions{Pusher: p, Config: func() *config.Config { return &config.Config{} }})
	if _, err := none.Serve(hookRequest("github", payload("github"), signed(payload("github"))), "github"); !errors.Is(err, ErrSignature) {
		t.Errorf("no secret configured: %v", err)
	}
	if len(p.pushes) != 0 {
		t.Errorf("bad input ran: %+v", p.pushes)
	}
}

// TestCommitStatuses posts pending, success and failure to a fake of each
// forge's status API, with the paths, bodies and token headers the forges
// document.
func TestCommitStatuses(t *testing.T) {
	t.Parallel()
	type got struct {
		path, auth string
		body       map[string]string
	}
	for _, tc := range []struct {
		forge, prefix, authHeader, authValue, stateKey, nameKey string
		states                                                  []string
	}{
		{"github", "/api/v3/repos/acme/shop/statuses/", "Authorization", "Bearer tok", "state", "context", []string{"pending", "success", "failure"}},
		{"gitea", "/api/v1/repos/acme/shop/statuses/", "Authorization", "token tok", "state", "context", []string{"pending", "success", "failure"}},
		{"gitlab", "/api/v4/projects/acme%2Fshop/statuses/", "PRIVATE-TOKEN", "tok", "state", "name", []string{"pending", "success", "failed"}},
	} {
		var mu sync.Mutex
		var seen []got
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var body map[string]string
			if err := json.Unmarshal(b, &body); err != nil || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %s %s %s", tc.forge, r.Method, r.Header.Get("Content-Type"), b)
			}
			mu.Lock()
			seen = append(seen, got{r.URL.EscapedPath(), r.Header.Get(tc.authHeader), body})
			mu.Unlock()
			w.WriteHeader(201)
		}))
		cfg := &config.Config{Notify: &config.Notify{CommitStatus: &config.CommitStatus{Forge: tc.forge, URL: srv.URL, TokenSecret: "FORGE_TOKEN"}}}
		s := NewStatuses(StatusOptions{Config: func() *config.Config { return cfg },
			Secrets: func(context.Context, []string) (map[string]secret.Value, error) {
				return map[string]secret.Value{"FORGE_TOKEN": secret.New("tok")}, nil
			}})
		for _, status := range []string{"pending", "success", "failed"} {
			s.Report(context.Background(), runner.RunInfo{ID: 7, Pipeline: "ci", Status: status, Commit: after, Repository: "acme/shop"})
		}
		srv.Close()
		if len(seen) != 3 {
			t.Fatalf("%s: %d requests", tc.forge, len(seen))
		}
		for i, g := range seen {
			if g.path != tc.prefix+after || g.auth != tc.authValue || g.body[tc.stateKey] != tc.states[i] || g.body[tc.nameKey] != "tug/ci" {
				t.Errorf("%s #%d: %+v", tc.forge, i, g)
			}
		}
	}
}

// TestWebhookRunsThePushedCommit: a signed Gitea push of a commit the
// server has never seen is fetched from the repository's remote into the
// server's mirror and runs there.
func TestWebhookRunsThePushedCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(wd string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	origin, srv, dev := filepath.Join(dir, "origin.git"), filepath.Join(dir, "srv"), filepath.Join(dir, "dev")
	git(dir, "init", "-q", "--bare", "-b", "main", origin)
	git(dir, "clone", "-q", origin, srv)
	yaml := "version: 1\npipelines:\n  ci:\n    on: [push]\n    jobs:\n      a: {run: \"cat NEW\"}\n"
	os.WriteFile(filepath.Join(srv, "tug.yaml"), []byte(yaml), 0o644)
	git(srv, "add", "-A")
	git(srv, "commit", "-qm", "one")
	git(srv, "push", "-q", "origin", "main")
	git(dir, "clone", "-q", origin, dev)
	os.WriteFile(filepath.Join(dev, "NEW"), []byte("new\n"), 0o644)
	git(dev, "add", "-A")
	git(dev, "commit", "-qm", "two")
	git(dev, "push", "-q", "origin", "main")
	head := git(dev, "rev-parse", "HEAD")

	ctx, cancel := context.WithCancel(context.Background())
	state := filepath.Join(dir, "state")
	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := runner.NewQueue(ctx, runner.QueueOptions{Runner: runner.New(runner.Options{Store: st, StateDir: state}),
		Store: st, StateDir: state, ConfigPath: filepath.Join(srv, "tug.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })

	body := `{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + head +
		`","repository":{"full_name":"acme/shop","clone_url":"` + origin + `"}}`
	ans, err := hooksFor(q).Serve(hookRequest("gitea", body, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(body, "s3cret-GT_HOOK")}), "gitea")
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Runs) != 1 || ans.Runs[0].Event != runner.OriginWebhook || ans.Runs[0].Commit != head || ans.Runs[0].Repository != "acme/shop" {
		t.Fatalf("runs: %+v", ans.Runs)
	}
	testkit.Eventually(t, 30*time.Second, "the run to succeed", func() bool {
		r, _, err := st.GetRun(ctx, ans.Runs[0].ID)
		return err == nil && r.Status == store.StatusSuccess
	})
	if _, err := os.Stat(filepath.Join(srv, "NEW")); err == nil {
		t.Error("the server's working copy got the pushed file")
	}
}
