package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/incident"
)

// request is one request to the API as a browser or a client sends it.
type request struct {
	name, method, path, host, ctype, origin, site, body string
}

func (q request) serve(h http.Handler) *httptest.ResponseRecorder {
	r := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	r.Host = q.host
	for k, v := range map[string]string{"Content-Type": q.ctype, "Origin": q.origin, "Sec-Fetch-Site": q.site} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// TestRemoteRefusesWhatABrowserPageSends performs the attack of the
// security report (a text/plain body, a foreign Origin, a DNS-rebinding
// Host: what any web page can make a browser send to 127.0.0.1) and each
// of its parts alone, on the API as served on TCP: every one is refused
// and nothing is deployed, rolled back or applied. The CLI's requests
// and same-origin ones still pass.
func TestRemoteRefusesWhatABrowserPageSends(t *testing.T) {
	d := &fakeDeployer{rel: &deploy.Release{ID: "r1", Status: deploy.StatusLive}}
	_, h, fc := newTestServer(t, d)
	applied := 0
	fc.next = func() (*config.Config, error) { applied++; return mustConfig(t, testYAML), nil }
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}
	remote := h.Remote(RemoteOptions{Addr: addr, Hosts: []string{"tug.internal"}, NoAuth: true})
	const own = "127.0.0.1:7070"
	body := `{"service":"shop"}`
	for _, q := range []struct {
		request
		status int
	}{
		{request{"the report's curl", "POST", "/api/deploys", "rebind.evil.example:7070", "text/plain", "http://evil.example", "", body}, 403},
		{request{"a text/plain body", "POST", "/api/deploys", own, "text/plain", "", "", body}, 415},
		{request{"a form body", "POST", "/api/rollbacks", own, "application/x-www-form-urlencoded", "", "", body}, 415},
		{request{"no body type", "POST", "/api/apply", own, "", "", "", ""}, 415},
		{request{"a foreign Origin", "POST", "/api/deploys", own, "application/json", "http://evil.example", "", body}, 403},
		{request{"a null Origin", "POST", "/api/deploys", own, "application/json", "null", "", body}, 403},
		{request{"another port's Origin", "POST", "/api/deploys", own, "application/json", "http://127.0.0.1:8080", "", body}, 403},
		{request{"Sec-Fetch-Site cross-site", "POST", "/api/deploys", own, "application/json", "", "cross-site", body}, 403},
		{request{"Sec-Fetch-Site same-site", "POST", "/api/deploys", own, "application/json", "", "same-site", body}, 403},
		{request{"a rebinding Host", "POST", "/api/deploys", "rebind.evil.example:7070", "application/json", "", "", body}, 403},
		{request{"a rebinding Host reading the config", "GET", "/api/config", "rebind.evil.example:7070", "", "", "", ""}, 403},
		{request{"a foreign Origin reading", "GET", "/api/status", own, "", "http://evil.example", "", ""}, 403},
		{request{"another IP as Host", "GET", "/api/status", "10.0.0.9:7070", "", "", "", ""}, 403},
	} {
		rec := q.serve(remote)
		var env endpoint.ErrorResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &env)
		if rec.Code != q.status || env.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d", q.name, rec.Code, rec.Body, q.status)
		}
	}
	if len(d.requests) != 0 || applied != 0 {
		t.Fatalf("refused requests reached the deployer (%v) or applied the config (%d)", d.requests, applied)
	}

	for _, q := range []request{
		{"the CLI", "POST", "/api/deploys", own, "application/json", "", "", body},
		{"JSON with a charset", "POST", "/api/rollbacks", own, "application/json; charset=utf-8", "", "", body},
		{"localhost", "POST", "/api/apply", "localhost:7070", "application/json", "", "", ""},
		{"a configured name", "GET", "/api/status", "TUG.internal:7070", "", "", "", ""},
		{"same origin", "POST", "/api/deploys", own, "application/json", "http://" + own, "same-origin", body},
		{"a user typing the URL", "GET", "/api/status", own, "", "", "none", ""},
	} {
		if rec := q.serve(remote); rec.Code != 200 {
			t.Errorf("%s: %d %s", q.name, rec.Code, rec.Body)
		}
	}
	// Grafana sends PromQL as a form POST: a read, not a change.
	if rec := (request{"form query", "POST", "/api/v1/query", own, "application/x-www-form-urlencoded", "", "", "query=1"}).serve(remote); rec.Code == 415 || rec.Code == 403 {
		t.Errorf("form query refused: %d %s", rec.Code, rec.Body)
	}
	// A forge posts its webhook as a form when so configured: the
	// signature authenticates it, so the body type does not matter (no
	// webhooks here: 503 from the operation, not 415 from the guard).
	if rec := (request{"form webhook", "POST", "/hooks/github", own, "application/x-www-form-urlencoded", "", "", "payload=%7B%7D"}).serve(remote); rec.Code != 503 {
		t.Errorf("form webhook: %d %s", rec.Code, rec.Body)
	}
	// The unix socket is the local admin's and stays as it was.
	if rec := (request{"socket", "POST", "/api/apply", "tug", "text/plain", "", "", ""}).serve(h); rec.Code != 200 {
		t.Errorf("socket: %d %s", rec.Code, rec.Body)
	}
}

// A listener on every address takes any of the machine's IP addresses
// as Host (an IP cannot be rebound), and still no other name.
func TestRemoteOnAllAddresses(t *testing.T) {
	_, h, _ := newTestServer(t, &fakeDeployer{})
	remote := h.Remote(RemoteOptions{Addr: &net.TCPAddr{IP: net.IPv6unspecified, Port: 7070}, NoAuth: true})
	for host, want := range map[string]int{
		"192.168.1.5:7070": 200, "[::1]:7070": 200, "localhost:7070": 200, "127.0.0.1": 200,
		"evil.example:7070": 403, "": 403,
	} {
		if rec := (request{host, "GET", "/api/health", host, "", "", "", ""}).serve(remote); rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
}

// TestAckLinkPageIsAFormThatChangesNothing opens a notification's
// acknowledgement link as a mail client does (a GET, from another site,
// with no token): it answers a page with a POST form to the link, and
// the incident stays unacknowledged, however often it is opened. A bad
// token is 401. The form's POST, from the page's own origin, acknowledges
// it; a POST from another site is still refused.
func TestAckLinkPageIsAFormThatChangesNothing(t *testing.T) {
	t.Parallel()
	_, h, _ := newTestServer(t, &fakeDeployer{}, withRooms(t))
	ctx := t.Context()
	m := h.opts.Incidents()
	inc, err := m.Open(ctx, incident.OpenRequest{Title: "checkout <down>", Severity: "P1", Service: "shop", By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.AckToken(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	remote := h.Remote(RemoteOptions{Addr: listenerAddr})
	link := "/api/incidents/" + strconv.FormatInt(inc.ID, 10) + "/ack-link?token=" + tok + "&by=ana"
	for range 2 {
		rec := request{"a click in a webmail", "GET", link, ownHost, "", "", "cross-site", ""}.serve(remote)
		page := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(page, `<form method="post" action="`+strings.ReplaceAll(link, "&", "&amp;")+`">`) ||
			!strings.Contains(page, "checkout &lt;down&gt;") {
			t.Fatalf("the link's page: %d %s\n%s", rec.Code, rec.Header(), page)
		}
	}
	if got, _ := m.Show(ctx, inc.ID); got.State != incident.StateDetected || got.AcknowledgedAt != nil {
		t.Fatalf("opening the link changed the incident: %s", got.State)
	}
	if rec := (request{"a wrong token", "GET", strings.Replace(link, tok, "x"+tok[1:], 1), ownHost, "", "", "", ""}).serve(remote); rec.Code != 401 {
		t.Errorf("a wrong token: %d %s", rec.Code, rec.Body)
	}
	if rec := (request{"a POST from another site", "POST", link, ownHost, "application/x-www-form-urlencoded", "http://evil.example", "cross-site", ""}).serve(remote); rec.Code != 403 {
		t.Errorf("a cross-site POST: %d %s", rec.Code, rec.Body)
	}
	rec := request{"the page's button", "POST", link, ownHost, "application/x-www-form-urlencoded", "http://" + ownHost, "same-origin", ""}.serve(remote)
	if got, _ := m.Show(ctx, inc.ID); rec.Code != 200 || got.State != incident.StateAcknowledged || got.AcknowledgedBy != "ana" {
		t.Fatalf("the form's POST: %d %s; incident %s by %q", rec.Code, rec.Body, got.State, got.AcknowledgedBy)
	}
}
