package deploy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/secret"
)

// versioned is a secret source keeping every version of each value, per
// environment, as the store does.
type versioned struct {
	mu   sync.Mutex
	vals map[string][]string // "NAME/env" -> versions, oldest first
}

func (v *versioned) set(name, env, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.vals == nil {
		v.vals = map[string][]string{}
	}
	v.vals[name+"/"+env] = append(v.vals[name+"/"+env], value)
}

func (*versioned) Kind() string { return secret.FromStore }

func (v *versioned) Lookup(_ context.Context, env string, names []string, pinned map[string]secret.Ref) (map[string]secret.Resolved, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]secret.Resolved{}
	for _, n := range names {
		list := v.vals[n+"/"+env]
		n2 := len(list)
		if ref, ok := pinned[n]; ok {
			n2 = ref.Version
		}
		if n2 > 0 && n2 <= len(list) {
			out[n] = secret.Resolved{Value: secret.New(list[n2-1]), Ref: secret.Ref{Source: secret.FromStore, Scope: env, Version: n2}}
		}
	}
	return out, nil
}

// startedWith is the value of name the last started instance got.
func (h *harness) startedWith(name string) string {
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	return h.rt.starts[len(h.rt.starts)-1].Secrets[name].Reveal()
}

func TestDeployMissingASecretIsRefusedBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Secrets = []string{"DB_URL", "API_KEY"}
	h := newHarness(t, configWith(svc, "staging", "production"))
	src := &versioned{}
	src.set("DB_URL", "staging", "postgres://staging")
	src.set("API_KEY", "staging", "key-staging")
	src.set("DB_URL", "production", "postgres://prod")
	h.m.opts.Secrets = secret.Chain{src}

	_, err := h.deploy("production")
	if !errors.Is(err, secret.ErrMissing) || errors.Is(err, ErrFailed) {
		t.Fatalf("deploy with a missing secret: %v", err)
	}
	for _, want := range []string{"API_KEY", `"production"`, "services.web.secrets"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "DB_URL") {
		t.Errorf("the refusal names a secret that is there: %v", err)
	}
	if rels, _ := h.m.Releases(context.Background(), "web", ""); len(rels) != 0 {
		t.Errorf("a refused deploy recorded %d releases", len(rels))
	}
	if n := h.rt.startCount(); n != 0 {
		t.Errorf("a refused deploy started %d instances", n)
	}
	if rel := h.mustDeploy("staging"); rel.Secrets["DB_URL"] != (secret.Ref{Source: "store", Scope: "staging", Version: 1}) {
		t.Errorf("the release records %+v", rel.Secrets)
	}
}

// A redeploy takes the new values; a rollback gets the release's own.
func TestRedeployTakesNewValuesAndRollbackTheOld(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Secrets = []string{"DB_URL"}
	h := newHarness(t, configWith(svc))
	src := &versioned{}
	src.set("DB_URL", "default", "postgres://one")
	h.m.opts.Secrets = secret.Chain{src}
	ctx := context.Background()

	if _, err := h.m.Redeploy(ctx, "web", "", "ann", "rotation", nil); !errors.Is(err, ErrNotLive) {
		t.Fatalf("redeploy of nothing: %v", err)
	}
	r1 := h.mustDeploy("")
	if got := h.startedWith("DB_URL"); got != "postgres://one" {
		t.Fatalf("r1 started with %q", got)
	}
	src.set("DB_URL", "default", "postgres://two")
	r2, err := h.m.Redeploy(ctx, "web", "", "ann", "rotation of DB_URL", h.progress)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.startedWith("DB_URL"); got != "postgres://two" || r2.Status != StatusLive {
		t.Fatalf("the redeploy started with %q, status %s", got, r2.Status)
	}
	if r := h.release(r2.ID); r.Reason != "rotation of DB_URL" || r.Who != "ann" || r.Secrets["DB_URL"].Version != 2 {
		t.Errorf("the redeploy's release: %+v", r)
	}
	if r := h.release(r1.ID); r.Status != StatusSuperseded || r.Secrets["DB_URL"].Version != 1 {
		t.Errorf("r1 after the redeploy: %+v", r)
	}
	if _, err := h.m.Rollback(ctx, "web", "", "bob", h.progress); err != nil {
		t.Fatal(err)
	}
	if got := h.startedWith("DB_URL"); got != "postgres://one" {
		t.Fatalf("the rollback to %s started with %q, want its own version", r1.ID, got)
	}
	h.router.checkViolations(t)
}
