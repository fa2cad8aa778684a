package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// fakeVault answers the parts of Vault's HTTP API tug uses, as its
// documentation describes them: KV version 2 reads (current and
// ?version=N), metadata, writes, AppRole login; 403 {"errors":
// ["permission denied"]} without a good token and 404 {"errors":[]} for a
// path never written; a deleted version reads 404 with its metadata.
type fakeVault struct {
	mu       sync.Mutex
	mount    string
	token    string
	roleID   string
	secretID string
	paths    map[string][]fakeVersion // path -> versions, oldest first
	reads    atomic.Int64             // data reads
	metas    atomic.Int64             // metadata reads
	logins   atomic.Int64
}

type fakeVersion struct {
	data    map[string]string
	created time.Time
	deleted bool
}

func newFakeVault(t *testing.T) (*fakeVault, *httptest.Server) {
	f := &fakeVault{mount: "secret", token: "s.good-token", roleID: "role-1", secretID: "secret-id-1", paths: map[string][]fakeVersion{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeVault) put(path string, data map[string]string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths[path] = append(f.paths[path], fakeVersion{data: data, created: time.Now().UTC()})
	return len(f.paths[path])
}

func writeVault(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	if p == "auth/approle/login" && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		f.logins.Add(1)
		var body struct{ RoleID, SecretID string }
		var raw map[string]string
		json.NewDecoder(r.Body).Decode(&raw)
		body.RoleID, body.SecretID = raw["role_id"], raw["secret_id"]
		if body.RoleID != f.roleID || body.SecretID != f.secretID {
			writeVault(w, http.StatusBadRequest, map[string]any{"errors": []string{"invalid role or secret ID"}})
			return
		}
		writeVault(w, http.StatusOK, map[string]any{"auth": map[string]any{
			"client_token": f.token, "accessor": "acc", "policies": []string{"default", "shop"},
			"token_policies": []string{"default", "shop"}, "lease_duration": 1200, "renewable": true,
		}})
		return
	}
	if r.Header.Get("X-Vault-Token") != f.token {
		writeVault(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	kind, path, ok := strings.Cut(strings.TrimPrefix(p, f.mount+"/"), "/")
	if !ok || !strings.HasPrefix(p, f.mount+"/") {
		writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{"no handler for route \"" + p + "\""}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	versions := f.paths[path]
	switch {
	case kind == "data" && r.Method == http.MethodGet:
		f.reads.Add(1)
		if len(versions) == 0 {
			writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		n := len(versions)
		if q := r.URL.Query().Get("version"); q != "" {
			n, _ = strconv.Atoi(q)
		}
		if n < 1 || n > len(versions) {
			writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		v := versions[n-1]
		meta := map[string]any{"created_time": v.created.Format(time.RFC3339Nano), "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": n}
		var data any = v.data
		status := http.StatusOK
		if v.deleted {
			meta["deletion_time"] = v.created.Add(time.Second).Format(time.RFC3339Nano)
			data, status = nil, http.StatusNotFound
		}
		writeVault(w, status, map[string]any{"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
			"data": map[string]any{"data": data, "metadata": meta}, "wrap_info": nil, "warnings": nil, "auth": nil})
	case kind == "metadata" && r.Method == http.MethodGet:
		f.metas.Add(1)
		if len(versions) == 0 {
			writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		vs := map[string]any{}
		for i, v := range versions {
			vs[strconv.Itoa(i+1)] = map[string]any{"created_time": v.created.Format(time.RFC3339Nano), "deletion_time": "", "destroyed": false}
		}
		writeVault(w, http.StatusOK, map[string]any{"data": map[string]any{
			"cas_required": false, "created_time": versions[0].created.Format(time.RFC3339Nano), "current_version": len(versions),
			"max_versions": 0, "oldest_version": 0, "updated_time": versions[len(versions)-1].created.Format(time.RFC3339Nano),
			"custom_metadata": nil, "versions": vs,
		}})
	default:
		writeVault(w, http.StatusMethodNotAllowed, map[string]any{"errors": []string{"unsupported operation"}})
	}
}

// localToken is a Local resolver holding the Vault credentials.
func localToken(vals map[string]string) secret.Resolver {
	return secret.Chain{secret.Env(func(k string) (string, bool) { v, ok := vals[k]; return v, ok })}
}

func newVault(t *testing.T, srv *httptest.Server, c config.Secrets, local map[string]string, clock *testkit.Clock) *Vault {
	t.Helper()
	c.Backend, c.Address = "vault", srv.URL
	v, err := NewVault(VaultOptions{Config: &c, Project: "shop", Local: localToken(local), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVaultReadsKVv2WithVersionsAndCachesThem(t *testing.T) {
	t.Parallel()
	f, srv := newFakeVault(t)
	f.put("shop", map[string]string{"API_KEY": "shared-key", "DB_URL": "shared-db"})
	f.put("shop/production", map[string]string{"DB_URL": "prod-db-1"})
	clock := testkit.NewClock(time.Now())
	v := newVault(t, srv, config.Secrets{TokenSecret: "VAULT_TOKEN", Refresh: config.Duration(time.Minute)}, map[string]string{"VAULT_TOKEN": f.token}, clock)
	ctx := context.Background()

	res, err := secret.Chain{v}.Resolve(ctx, "production", []string{"DB_URL", "API_KEY"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res["DB_URL"].Value.Reveal() != "prod-db-1" || res["DB_URL"].Ref != (secret.Ref{Source: "vault", Scope: "production", Version: 1}) {
		t.Errorf("DB_URL %q %+v", res["DB_URL"].Value.Reveal(), res["DB_URL"].Ref)
	}
	if res["API_KEY"].Value.Reveal() != "shared-key" || res["API_KEY"].Ref.Scope != "" {
		t.Errorf("API_KEY %q %+v", res["API_KEY"].Value.Reveal(), res["API_KEY"].Ref)
	}
	// Within the refresh, values come from memory.
	reads := f.reads.Load()
	if _, err := v.Lookup(ctx, "production", []string{"DB_URL"}, nil); err != nil || f.reads.Load() != reads || f.metas.Load() != 0 {
		t.Fatalf("a cached read asked Vault (%d reads, %d metadata): %v", f.reads.Load()-reads, f.metas.Load(), err)
	}
	// After it, an unchanged value costs one metadata read, no data read.
	clock.Advance(2 * time.Minute)
	if _, err := v.Lookup(ctx, "production", []string{"DB_URL"}, nil); err != nil || f.reads.Load() != reads || f.metas.Load() != 1 {
		t.Fatalf("an unchanged value: %d reads, %d metadata: %v", f.reads.Load()-reads, f.metas.Load(), err)
	}
	// A changed one is read again.
	f.put("shop/production", map[string]string{"DB_URL": "prod-db-2"})
	clock.Advance(2 * time.Minute)
	got, err := v.Lookup(ctx, "production", []string{"DB_URL"}, nil)
	if err != nil || got["DB_URL"].Value.Reveal() != "prod-db-2" || got["DB_URL"].Ref.Version != 2 {
		t.Fatalf("after a change: %q %+v %v", got["DB_URL"].Value.Reveal(), got["DB_URL"].Ref, err)
	}
	// A release pinned to version 1 gets version 1, read once.
	pin := map[string]secret.Ref{"DB_URL": {Source: "vault", Scope: "production", Version: 1}}
	for range 2 {
		got, err = v.Lookup(ctx, "production", []string{"DB_URL"}, pin)
		if err != nil || got["DB_URL"].Value.Reveal() != "prod-db-1" {
			t.Fatalf("pinned v1: %q %v", got["DB_URL"].Value.Reveal(), err)
		}
	}
	// A deleted version reads 404 with its metadata: the value is gone.
	f.mu.Lock()
	f.paths["shop/production"][0].deleted = true
	f.mu.Unlock()
	v2 := newVault(t, srv, config.Secrets{TokenSecret: "VAULT_TOKEN"}, map[string]string{"VAULT_TOKEN": f.token}, clock)
	_, err = secret.Chain{v2}.Resolve(ctx, "production", []string{"DB_URL"}, pin)
	if !errors.Is(err, secret.ErrGone) {
		t.Fatalf("a deleted pinned version: %v", err)
	}
	// A name nowhere in Vault is missing, naming the environment.
	_, err = secret.Chain{v}.Resolve(ctx, "staging", []string{"NOPE"}, nil)
	if !errors.Is(err, secret.ErrMissing) || !strings.Contains(err.Error(), `"staging"`) {
		t.Fatalf("missing: %v", err)
	}
}

func TestVaultRefusalsAreClear(t *testing.T) {
	t.Parallel()
	f, srv := newFakeVault(t)
	f.put("shop", map[string]string{"A": "a"})
	clock := testkit.NewClock(time.Now())
	v := newVault(t, srv, config.Secrets{TokenSecret: "VAULT_TOKEN"}, map[string]string{"VAULT_TOKEN": "s.expired"}, clock)
	_, err := v.Lookup(context.Background(), "", []string{"A"}, nil)
	if !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "403 permission denied") || !strings.Contains(err.Error(), "secret/data/shop") {
		t.Fatalf("403: %v", err)
	}
	if strings.Contains(err.Error(), "s.expired") {
		t.Fatal("the error shows the token")
	}
	v = newVault(t, srv, config.Secrets{TokenSecret: "VAULT_TOKEN"}, nil, clock)
	if _, err := v.Lookup(context.Background(), "", []string{"A"}, nil); !errors.Is(err, secret.ErrMissing) || !strings.Contains(err.Error(), "token_secret") {
		t.Fatalf("no token: %v", err)
	}
}

func TestVaultAppRoleLogsInAndAgainBeforeTheLeaseEnds(t *testing.T) {
	t.Parallel()
	f, srv := newFakeVault(t)
	f.put("shop", map[string]string{"A": "a"})
	clock := testkit.NewClock(time.Now())
	v := newVault(t, srv, config.Secrets{AppRole: &config.AppRole{RoleID: f.roleID, SecretIDSecret: "VAULT_SECRET_ID"}, Refresh: config.Duration(time.Second)},
		map[string]string{"VAULT_SECRET_ID": f.secretID}, clock)
	ctx := context.Background()
	if got, err := v.Lookup(ctx, "", []string{"A"}, nil); err != nil || got["A"].Value.Reveal() != "a" {
		t.Fatalf("%v %v", got, err)
	}
	clock.Advance(10 * time.Minute) // within 2/3 of the 20m lease
	v.Lookup(ctx, "", []string{"A"}, nil)
	if n := f.logins.Load(); n != 1 {
		t.Fatalf("%d logins within the lease", n)
	}
	clock.Advance(5 * time.Minute)
	if _, err := v.Lookup(ctx, "", []string{"A"}, nil); err != nil || f.logins.Load() != 2 {
		t.Fatalf("no new login near the lease's end (%d): %v", f.logins.Load(), err)
	}
	bad := newVault(t, srv, config.Secrets{AppRole: &config.AppRole{RoleID: "nope", SecretIDSecret: "VAULT_SECRET_ID"}},
		map[string]string{"VAULT_SECRET_ID": f.secretID}, clock)
	if _, err := bad.Lookup(ctx, "", []string{"A"}, nil); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "invalid role or secret ID") {
		t.Fatalf("bad AppRole: %v", err)
	}
}
