package alert

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/endpoint"
)

func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	var rd *bytes.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, rec.Body.String())
	}
	return rec.Code, out
}

func TestHandler(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname")),
		rule("QueueFull", `queue_depth > 100`, "P1", 0),
		rule("QueueGrowing", `queue_depth > 10`, "P3", 0))
	c.Alerts[1].For = dur(0)
	h := newHarness(t, c, nil)
	h.set(func() float64 { return 500 }, "__name__", "queue_depth", "service", "web")
	h.step(2)
	srv, err := endpoint.NewRouter(Ops(func() *Engine { return h.engine }), endpoint.Options{Codes: []endpoint.ErrorCode{
		{Err: ErrInvalid, Code: endpoint.CodeBadRequest}, {Err: ErrNotFound, Code: endpoint.CodeNotFound},
	}})
	if err != nil {
		t.Fatal(err)
	}

	code, out := call(t, srv, "GET", "/api/alerts", "")
	var alerts []Alert
	_ = json.Unmarshal(out["alerts"], &alerts)
	if code != 200 || len(alerts) != 2 || alerts[0].Severity != "P1" || alerts[1].Severity != "P3" {
		t.Fatalf("GET /api/alerts = %d %s", code, out["alerts"])
	}

	code, out = call(t, srv, "POST", "/api/silences", `{"matchers":"alertname=QueueGrowing","duration":"2h","comment":"known"}`)
	var s Silence
	_ = json.Unmarshal(out["silence"], &s)
	if code != 200 || s.ID == "" || s.Status != SilenceActive || s.EndsAt.Sub(s.StartsAt).Hours() != 2 {
		t.Fatalf("POST /api/silences = %d %+v", code, out)
	}
	code, out = call(t, srv, "POST", "/api/silences", `{"matchers":"alertname=~(","duration":"2h"}`)
	if code != 400 || !strings.Contains(string(out["error"]), `"code": "bad_request"`) {
		t.Fatalf("bad silence = %d %s", code, out["error"])
	}
	code, _ = call(t, srv, "POST", "/api/silences", `{"matchers":"a=b","duration":"-1h"}`)
	if code != 400 {
		t.Fatalf("negative duration accepted: %d", code)
	}
	if len(h.engine.Silences()) != 1 {
		t.Fatalf("a rejected silence changed state")
	}
	code, out = call(t, srv, "GET", "/api/silences", "")
	if code != 200 || !strings.Contains(string(out["silences"]), s.ID) {
		t.Fatalf("GET /api/silences = %d %s", code, out["silences"])
	}

	code, out = call(t, srv, "POST", "/api/alerts/"+alerts[0].ID+"/ack", `{"by":"ann"}`)
	if code != 200 || !strings.Contains(string(out["ack"]), `"by": "ann"`) {
		t.Fatalf("ack = %d %s", code, out)
	}
	code, out = call(t, srv, "POST", "/api/alerts/0000/ack", `{}`)
	if code != 404 || !strings.Contains(string(out["error"]), "not_found") {
		t.Fatalf("ack of unknown = %d %s", code, out)
	}

	code, out = call(t, srv, "DELETE", "/api/silences/"+s.ID, "")
	if code != 200 || !strings.Contains(string(out["silence"]), `"status": "expired"`) {
		t.Fatalf("expire = %d %s", code, out)
	}
	code, _ = call(t, srv, "DELETE", "/api/silences/nope", "")
	if code != 404 {
		t.Fatalf("expire unknown = %d", code)
	}

	code, out = call(t, srv, "GET", "/api/alerts/history?limit=1", "")
	var ns []Notification
	_ = json.Unmarshal(out["notifications"], &ns)
	if code != 200 || len(ns) != 1 || ns[0].Channel != "ops" || ns[0].Outcome != OutcomeSent {
		t.Fatalf("history = %d %s", code, out)
	}
	code, _ = call(t, srv, "GET", "/api/alerts/history?limit=x", "")
	if code != 400 {
		t.Fatalf("bad limit = %d", code)
	}
}
