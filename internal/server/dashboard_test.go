package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/testkit"
)

// TestDashboardBesideTheAPI: the server serves the dashboard at / on its
// unix socket and its TCP listener, beside the API, which keeps asking
// for a token. Without tokens the loopback listener's dashboard is the
// local admin's; once a token exists it asks for one, and a refused
// login is in the audit log without the value presented.
func TestDashboardBesideTheAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stopProxyAfter(t, dir+"/.tug")
	srv := startServer(t, Options{ConfigPath: writeConfig(t, dir, minimalYAML), StateDir: dir + "/.tug", ProxyCommand: fakeProxyArgv(t),
		ListenAddr: "127.0.0.1:0", Debounce: 20 * time.Millisecond})
	t.Cleanup(func() { srv.stop(t) })
	ctx := context.Background()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + srv.info.Listen
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(hc, base+"/"); st != 200 || !strings.Contains(body, "local (dashboard on loopback, read-only)") || !strings.Contains(body, "web") {
		t.Fatalf("the dashboard without tokens: %d\n%s", st, body)
	}
	sockHC := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", srv.info.Socket)
	}}}
	if st, body := get(sockHC, "http://tug/services/web"); st != 200 || !strings.Contains(body, "Request rate") {
		t.Fatalf("the dashboard on the socket: %d\n%s", st, body)
	}
	var e *endpoint.Error
	if _, err := api.NewClient(base).Status(ctx); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("the API beside it without a token: %v", err)
	}

	sock := api.NewClient(srv.info.Socket)
	if _, err := sock.CreateToken(ctx, access.CreateRequest{Name: "ann", Role: endpoint.Viewer}); err != nil {
		t.Fatal(err)
	}
	if st, _ := get(hc, base+"/"); st != http.StatusSeeOther {
		t.Fatalf("with a token made, no login asked: %d", st)
	}
	_, page := get(hc, base+"/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page: %s", page)
	}
	resp, err := hc.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "token": {"tug_wrongwrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad login: %d", resp.StatusCode)
	}
	testkit.Eventually(t, 10*time.Second, "the refused login audited", func() bool {
		recs, err := sock.Audit(ctx, audit.Params{})
		return err == nil && slices.ContainsFunc(recs, func(r audit.Record) bool {
			return r.Action == "POST /login" && r.Outcome == audit.Denied && strings.HasPrefix(r.Source, "dashboard ") && !strings.Contains(r.Detail, "wrongwrong")
		})
	})
}
