package proxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestMetricsNamesAndLabels(t *testing.T) {
	t.Parallel()
	be := httptest500(t)
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	for _, path := range []string{"/", "/", "/fail"} {
		p.do(t, http.DefaultClient, "GET", "app.test", path, nil, nil)
	}
	text, err := p.client.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	labels := `environment="prod",instance="r1-a",release="r1",service="web"`
	for _, want := range []string{
		`tug_proxy_requests_total{code="200",` + labels + `} 2`,
		`tug_proxy_requests_total{code="500",` + labels + `} 1`,
		`tug_proxy_request_duration_seconds_bucket{` + labels + `,le="+Inf"} 3`,
		`tug_proxy_request_duration_seconds_count{` + labels + `} 3`,
		`tug_proxy_requests_in_flight{` + labels + `} 0`,
		`# TYPE tug_proxy_request_duration_seconds histogram`,
		`# TYPE tug_proxy_requests_in_flight gauge`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s\n%s", want, text)
		}
	}
	if regexp.MustCompile(`(?m)^go_|^process_`).Match(text) {
		t.Error("metrics expose default-registry collectors; the proxy must use its own registry")
	}
	st, err := p.client.Stats(t.Context())
	if err != nil || len(st) != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	s := st[0]
	if s.Service != "web" || s.Environment != "prod" || s.Release != "r1" || s.Requests != 3 || s.Errors != 1 {
		t.Fatalf("stats %+v", s)
	}
	last := s.Buckets[len(s.Buckets)-1]
	if last.UpperBound != 10 || last.Count != 3 {
		t.Fatalf("buckets not cumulative: %+v", s.Buckets)
	}
}

func httptest500(t *testing.T) *httptestServer {
	t.Helper()
	return newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
			return
		}
		w.Write([]byte("ok"))
	}))
}
