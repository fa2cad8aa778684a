package deploy

import (
	"context"
	"encoding/json"
	"maps"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
)

type fakeFlags struct {
	mu   sync.Mutex
	set  *flagset.Set
	vars map[string]string
}

func (f *fakeFlags) FlagSet() *flagset.Set {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

func (f *fakeFlags) InstanceEnv(service, env string, _ bool) (map[string]string, secret.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.vars), secret.New("tugf_" + service + "_" + env)
}

func flagSetOf(def string) *flagset.Set {
	return &flagset.Set{Environments: map[string]*flagset.Env{"prod": {Flags: map[string]*flagset.Flag{
		"f": {Type: flagset.TypeBoolean, Variants: map[string]json.RawMessage{"on": json.RawMessage("true"), "off": json.RawMessage("false")}, Default: def},
	}}}}
}

// TestFlagsReachTablesAndInstances: every routing table carries the flag
// set, a flag change is pushed without a deploy, instances get the
// flags' variables and their client key as a secret, and a roll starts
// the live revision again with new variables.
func TestFlagsReachTablesAndInstances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok"), "prod"))
	fl := &fakeFlags{set: flagSetOf("off"), vars: map[string]string{"FEATURE_F": "false", "TUG_FLAGS_URL": "http://127.0.0.1:8080/_tug/flags/prod"}}
	h.m.opts.Flags = fl
	rel := h.mustDeploy("prod")
	if got := h.router.current().Flags; got == nil || got.Environments["prod"].Flags["f"].Default != "off" {
		t.Fatalf("table flags: %+v", got)
	}
	spec := h.rt.lastStart(t)
	if spec.Env["FEATURE_F"] != "false" || spec.Env["TUG_FLAGS_URL"] == "" || spec.Secrets[FlagKeyVar].Reveal() != "tugf_web_prod" {
		t.Fatalf("instance env %v, secrets %v", spec.Env, spec.Secrets)
	}
	n := len(h.router.tables())
	fl.mu.Lock()
	fl.set, fl.vars["FEATURE_F"] = flagSetOf("on"), "true"
	fl.mu.Unlock()
	if err := h.m.PushFlags(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.router.tables()) != n+1 || h.router.current().Flags.Environments["prod"].Flags["f"].Default != "on" {
		t.Fatal("the flag change was not pushed")
	}
	if err := h.m.Roll(context.Background(), "web", "prod", "ann", "flag f: kill"); err != nil {
		t.Fatal(err)
	}
	spec = h.rt.lastStart(t)
	if spec.Env["FEATURE_F"] != "true" || spec.Release == rel.ID {
		t.Fatalf("after the roll: release %s env %v", spec.Release, spec.Env)
	}
	rels, _ := h.m.Releases(context.Background(), "web", "prod")
	if rels[0].Who != "ann" || rels[0].Revision != rel.Revision || rels[0].Status != StatusLive {
		t.Errorf("rolled release %+v", rels[0])
	}
}

func (f *fakeRuntime) lastStart(t *testing.T) runtime.Spec {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.starts) == 0 {
		t.Fatal("nothing started")
	}
	return f.starts[len(f.starts)-1]
}
