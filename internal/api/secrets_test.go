package api

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secretstore"
)

// testSecrets is a secrets service over a fresh store whose key is in
// another temporary directory.
func testSecrets(t *testing.T, cfg *config.Config, log ...*slog.Logger) *secretstore.Service {
	t.Helper()
	st := secretstore.Open(t.TempDir(), secretstore.Options{Key: secretstore.Key{File: filepath.Join(t.TempDir(), "k", "secret.key")}})
	o := secretstore.ServiceOptions{Store: st, Config: func() *config.Config { return cfg }}
	if len(log) > 0 {
		o.Logger = log[0]
	}
	return secretstore.NewService(o)
}

// Revealing is audited; nothing but the reveal's own answer, in any
// encoding, holds a value: not the other answers, not the server's log.
func TestSecretValuesOnlyInTheAuditedReveal(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sec := testSecrets(t, mustConfig(t, testYAML), log)
	_, h, _ := newTestServer(t, &fakeDeployer{}, func(o *Options) {
		o.Secrets = sec
		o.Logger = log
	})
	for _, op := range h.Ops() {
		if strings.HasPrefix(op.Path, "/api/secrets/{name}/value") != op.Audited {
			t.Errorf("%s: audited %v", op.Pattern(), op.Audited)
		}
	}
	const value = "p@ss/w0rd+with=odd&chars"
	forms := []string{value, url.QueryEscape(value), base64.StdEncoding.EncodeToString([]byte(value)), base64.RawURLEncoding.EncodeToString([]byte(value))}
	do := func(method, target, body string) (int, string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	val := strings.NewReplacer(`"`, `\"`).Replace(value)
	var answers []string
	for _, r := range []struct{ method, target, body string }{
		{"PUT", "/api/secrets/DB_URL", `{"value":"` + val + `","who":"ann"}`},
		{"PUT", "/api/secrets/DB_URL", `{"value":"` + val + `","environment":"staging"}`},
		{"PUT", "/api/secrets/DB_URL", `{"value":"` + val + `","environment":"nope"}`},
		{"POST", "/api/secrets/import", `{"values":{"X":"` + val + `","bad-name":"` + val + `"}}`},
		{"POST", "/api/secrets/import", `{"values":{"X":"` + val + `"}}`},
		{"GET", "/api/secrets", ""},
		{"POST", "/api/secrets/DB_URL/rotate", `{"value":"` + val + `x"}`},
		{"DELETE", "/api/secrets/X", ""},
		{"GET", "/api/secrets/DB_URL/value?version=99", ""},
	} {
		code, body := do(r.method, r.target, r.body)
		if code >= 500 {
			t.Errorf("%s %s: %d %s", r.method, r.target, code, body)
		}
		answers = append(answers, body)
	}
	code, revealed := do("GET", "/api/secrets/DB_URL/value?version=1&who=ann", "")
	if code != http.StatusOK || !strings.Contains(revealed, value) {
		t.Fatalf("reveal: %d %s", code, revealed)
	}
	for _, a := range append(answers, logs.String()) {
		for _, f := range forms {
			if strings.Contains(a, f) {
				t.Errorf("a value (%q) in %s", f, a)
			}
		}
	}
	if !strings.Contains(logs.String(), `"msg":"secret revealed"`) || !strings.Contains(logs.String(), `"by":"ann"`) {
		t.Errorf("the reveal is not logged with who asked:\n%s", logs.String())
	}
}
