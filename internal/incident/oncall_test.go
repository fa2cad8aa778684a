package incident

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tugdev/tug/internal/config"
)

func TestShifts(t *testing.T) {
	t.Parallel()
	weekly := &config.Rotation{Rotation: []string{"ana", "ben"}, Handoff: "mon 09:00", Timezone: "Europe/Berlin"}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	mon := time.Date(2026, 3, 2, 9, 0, 0, 0, berlin) // a Monday
	now, next, err := Shifts(weekly, mon.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !now.Until.Equal(mon) || !next.From.Equal(mon) || now.Who == next.Who {
		t.Errorf("before the handoff: now %+v, next %+v", now, next)
	}
	after, _, _ := Shifts(weekly, mon)
	if after.Who != next.Who || !after.From.Equal(mon) || !after.Until.Equal(mon.AddDate(0, 0, 7)) {
		t.Errorf("at the handoff: %+v", after)
	}
	// Across the change to summer time the handoff stays at 09:00.
	later, _, _ := Shifts(weekly, time.Date(2026, 3, 30, 10, 0, 0, 0, berlin))
	if later.From.In(berlin).Hour() != 9 || later.From.Weekday() != time.Monday {
		t.Errorf("after DST: %+v", later)
	}

	daily := &config.Rotation{Rotation: []string{"ana", "ben", "carl"}, Handoff: "18:30",
		Overrides: []*config.OncallOverride{{Who: "dan", From: "2026-03-03 12:00", Until: "2026-03-03 14:00"}}}
	d1, d2, _ := Shifts(daily, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	if d1.Until != time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC) || d2.Who != "dan" || !d2.Override {
		t.Errorf("before an override: %+v then %+v", d1, d2)
	}
	o, back, _ := Shifts(daily, time.Date(2026, 3, 3, 13, 0, 0, 0, time.UTC))
	if o.Who != "dan" || back.Who != d1.Who || !back.Until.Equal(time.Date(2026, 3, 3, 18, 30, 0, 0, time.UTC)) {
		t.Errorf("during an override: %+v then %+v", o, back)
	}
	if _, _, err := Shifts(&config.Rotation{}, mon); err == nil {
		t.Error("an empty rotation has a shift")
	}
}

func TestAckLinkToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	ctx := context.Background()
	inc, _ := f.m.Open(ctx, OpenRequest{Title: "x", Severity: "P1", By: "ann"})
	other, _ := f.m.Open(ctx, OpenRequest{Title: "y", Severity: "P1", By: "ann"})
	tok, err := f.m.AckToken(ctx, inc.ID)
	if err != nil || len(tok) < 20 {
		t.Fatalf("token %q, %v", tok, err)
	}
	for _, bad := range []string{"", "x" + tok[1:]} {
		if _, err := f.m.AckWithToken(ctx, inc.ID, bad, "eve"); !errors.Is(err, ErrBadToken) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if _, err := f.m.AckWithToken(ctx, other.ID, tok, "eve"); !errors.Is(err, ErrBadToken) {
		t.Errorf("another incident's token: %v", err)
	}
	got, err := f.m.AckWithToken(ctx, inc.ID, tok, "ana")
	if err != nil || got.State != StateAcknowledged || got.AcknowledgedBy != "ana" {
		t.Fatalf("ack with token = %+v, %v", got, err)
	}
	// The key outlives the Manager: links sent before a restart work.
	f.start()
	if again, _ := f.m.AckToken(ctx, inc.ID); again != tok {
		t.Error("the token changed after a restart")
	}
}

// TestStatusPage: services are operational, degraded or down by their
// open incidents; only public notes show; nothing but GET and HEAD.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Incidents.StatusPage = &config.StatusPage{Route: "status.example.com", Title: "Shop status"}
	f := newFixture(t, cfg)
	ctx := context.Background()
	inc, _ := f.m.Open(ctx, OpenRequest{Title: "internal: db password rotated wrong", Severity: "P0", Service: "web", By: "ann"})
	f.m.Note(ctx, inc.ID, NoteRequest{By: "ann", Text: "Checkout is down; we are on it.", Public: true})
	f.m.Note(ctx, inc.ID, NoteRequest{By: "ann", Text: "secret detail: db-7 lost its disk"})
	f.m.Open(ctx, OpenRequest{Title: "slow", Severity: "P2", Service: "db", By: "ann"})
	srv := httptest.NewServer(f.m.StatusPage())
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := get("/")
	for _, want := range []string{"Shop status", "web</strong>: <span class=\"down\">down", "db</strong>: <span class=\"degraded\">degraded", "Checkout is down; we are on it."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	js := get("/status/status.json")
	for _, leak := range []string{"password", "db-7", "secret detail"} {
		if strings.Contains(page, leak) || strings.Contains(js, leak) {
			t.Errorf("the public page shows %q", leak)
		}
	}
	if !strings.Contains(js, `"state":"down"`) {
		t.Errorf("json = %s", js)
	}
	resp, err := http.Post(srv.URL+"/api/incidents", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST answered %d", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	ctx := context.Background()
	a, _ := f.m.Open(ctx, OpenRequest{Title: "x", Severity: "P1", Service: "web", By: "ann"})
	f.m.Open(ctx, OpenRequest{Title: "y", Severity: "P1", Service: "web", By: "ann"})
	f.clock.Advance(30 * time.Second)
	f.m.Ack(ctx, a.ID, AckRequest{By: "ben"})
	f.clock.Advance(30 * time.Second)
	f.m.Resolve(ctx, a.ID, ChangeRequest{By: "ben"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(f.m))
	want := `
# HELP tug_incidents_open Incidents not yet resolved, by service and severity.
# TYPE tug_incidents_open gauge
tug_incidents_open{service="web",severity="P1"} 1
# HELP tug_incidents_opened_total Incidents opened, by service and severity.
# TYPE tug_incidents_opened_total counter
tug_incidents_opened_total{service="web",severity="P1"} 2
# HELP tug_incidents_time_to_acknowledge_seconds Time from detection to acknowledgement of the incidents acknowledged, by service (MTTA is sum/count).
# TYPE tug_incidents_time_to_acknowledge_seconds summary
tug_incidents_time_to_acknowledge_seconds_sum{service="web"} 30
tug_incidents_time_to_acknowledge_seconds_count{service="web"} 1
# HELP tug_incidents_time_to_resolve_seconds Time from detection to resolution of the incidents resolved, by service (MTTR is sum/count).
# TYPE tug_incidents_time_to_resolve_seconds summary
tug_incidents_time_to_resolve_seconds_sum{service="web"} 60
tug_incidents_time_to_resolve_seconds_count{service="web"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tug_incidents_open", "tug_incidents_opened_total",
		"tug_incidents_time_to_acknowledge_seconds", "tug_incidents_time_to_resolve_seconds"); err != nil {
		t.Error(err)
	}
}
