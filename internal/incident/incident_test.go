package incident

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/logs"
)

// TestAlertToResolvedIncident: a P1 alert fired 3 minutes after a deploy
// opens an incident whose timeline holds the deploy, names it the
// suspected cause, pages the first level with an acknowledgement link,
// rolls the deploy back (mode act) and, when the alert resolves, notes the
// rollback's effect and resolves itself with its MTTR; the post-mortem
// names the deploy, the rollback and the failed requests.
func TestAlertToResolvedIncident(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Services["web"].Remediation = []*config.Remediation{{Alert: "HighErrorRate", Action: config.ActionRollback, Within: config.Duration(30 * time.Minute), Mode: config.ModeAct}}
	f := newFixture(t, cfg)
	f.changes = []Change{
		{Time: t0.Add(-2 * time.Hour), Kind: KindDeploy, Text: "deploy r1 of web", Key: "release:r1:deploy", Release: "r1", Source: "releases"},
		{Time: t0.Add(-3 * time.Minute), Kind: KindDeploy, Text: "deploy r2 of web (canary) by ann", Key: "release:r2:deploy", Release: "r2", Source: "releases", Who: "ann"},
		{Time: t0.Add(-90 * time.Second), Kind: KindConfig, Text: "config applied", Key: "config:1", Source: "config"},
	}
	f.logs = logSearch{
		{Time: t0.Add(-30 * time.Minute), Service: "web", Instance: "web-1", Text: "error: cache miss for key 12"},
		{Time: t0.Add(-50 * time.Second), Service: "web", Instance: "web-2", Text: "error: cache miss for key 99"},
		{Time: t0.Add(-40 * time.Second), Service: "web", Instance: "web-2", Text: "panic: nil map in checkout 0xdeadbeef"},
		{Time: t0.Add(-30 * time.Second), Service: "web", Instance: "web-3", Text: "panic: nil map in checkout 0xfeedface"},
	}
	f.failed = 1234
	a := f.fire("HighErrorRate", "P1", "web", 0.3)

	inc := f.only()
	if inc.State != StateMitigating || inc.Severity != "P1" || inc.Service != "web" || inc.OpenedBy != Tug {
		t.Fatalf("incident = %+v", inc)
	}
	for _, want := range []struct{ kind, text string }{
		{KindAlert, "P1 HighErrorRate fired (value 0.3)"},
		{KindDeploy, "deploy r2 of web"},
		{KindConfig, "config applied"},
		{KindCause, "suspected cause: deploy r2 of web (canary) by ann (started 3m0s before HighErrorRate fired)"},
		{KindLog, "panic: nil map in checkout 0xdeadbeef"},
		{KindRemediation, "tug will roll back web (HighErrorRate fired 3m0s after deploy r2"},
		{KindRemediation, "remediation done: rolled back web from r2 to r1"},
		{KindState, "mitigating (by tug"},
		{KindNotification, "incident opened: notification to primary sent (on call: ben)"},
	} {
		if !has(inc, want.kind, want.text) {
			t.Errorf("timeline lacks %s %q:\n%s", want.kind, want.text, strings.Join(kinds(inc), "\n"))
		}
	}
	if has(inc, KindDeploy, "deploy r1") {
		t.Error("a deploy of two hours before is in the timeline")
	}
	if has(inc, KindLog, "cache miss") {
		t.Error("an error line seen before the incident is called new")
	}
	if inc.SuspectedCause == nil || inc.SuspectedCause.Release != "r2" {
		t.Errorf("suspected cause = %+v", inc.SuspectedCause)
	}
	if got := f.acts.list(); len(got) != 1 || got[0] != "rollback web  by tug" {
		t.Errorf("actions = %v", got)
	}
	sent := f.notes.to("primary")
	if len(sent) != 1 || !strings.Contains(sent[0], "Incident #1 opened") {
		t.Fatalf("primary got %v", sent)
	}
	f.notes.mu.Lock()
	ack := f.notes.sent[0].msg.Alerts[0].Annotations["ack_url"]
	f.notes.mu.Unlock()
	if !strings.HasPrefix(ack, "https://tug.example.com/api/incidents/1/ack-link?token=") {
		t.Errorf("ack link = %q", ack)
	}

	f.clock.Advance(40 * time.Second)
	f.resolve(a)
	inc = f.show(inc.ID)
	if inc.State != StateResolved || inc.ResolvedBy != Tug || inc.TimeToResolve == nil || *inc.TimeToResolve != 40 {
		t.Fatalf("after the alert resolved: %+v", inc)
	}
	if !has(inc, KindRemediation, "effect of the rollback: HighErrorRate resolved") {
		t.Errorf("no effect recorded:\n%s", strings.Join(kinds(inc), "\n"))
	}
	if got := f.notes.to("primary"); len(got) != 2 || !strings.Contains(got[1], "resolved after 40s") {
		t.Errorf("primary got %v", got)
	}

	pm, err := f.m.Postmortem(context.Background(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deploy r2 of web", "rolled back web from r2 to r1", "1234 answered 5xx", "tug, on its own", "- [ ] Find why release r2 failed", "time to resolve | 40s"} {
		if !strings.Contains(pm.Markdown, want) {
			t.Errorf("post-mortem lacks %q:\n%s", want, pm.Markdown)
		}
	}
	if pm.Impact.FailedRequests != 1234 || pm.Impact.BudgetSpent == nil {
		t.Errorf("impact = %+v", pm.Impact)
	}
	for _, q := range f.queries {
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
			t.Errorf("query %q does not parse: %v", q, err)
		}
	}
	if _, err := f.m.ClosePostmortem(context.Background(), inc.ID, ChangeRequest{By: "ann"}); err != nil {
		t.Fatal(err)
	}
	if inc = f.show(inc.ID); inc.State != StateClosed || inc.ClosedBy != "ann" {
		t.Errorf("closed = %+v", inc)
	}
	if _, err := f.m.Resolve(context.Background(), inc.ID, ChangeRequest{}); !errors.Is(err, ErrState) {
		t.Errorf("resolve of a closed incident: %v", err)
	}
}

// TestProposeTakesNoAction: mode propose changes nothing and posts the
// proposal to the incident and its channel.
func TestProposeTakesNoAction(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Services["web"].Remediation = []*config.Remediation{{Alert: "HighErrorRate", Action: config.ActionRollback, Mode: config.ModePropose}}
	f := newFixture(t, cfg)
	f.changes = []Change{{Time: t0.Add(-time.Minute), Kind: KindDeploy, Text: "deploy r2 of web", Release: "r2", Key: "r2"}}
	f.fire("HighErrorRate", "P0", "web", 0.5)
	if got := f.acts.list(); len(got) != 0 {
		t.Fatalf("propose acted: %v", got)
	}
	inc := f.only()
	if inc.State != StateDetected {
		t.Errorf("state = %s, want detected (nothing was done)", inc.State)
	}
	if !has(inc, KindRemediation, "proposed: roll back web") || !has(inc, KindRemediation, "run `tug rollback web`") {
		t.Errorf("timeline lacks the proposal:\n%s", strings.Join(kinds(inc), "\n"))
	}
	sent := f.notes.to("primary")
	if len(sent) != 2 || !strings.Contains(strings.Join(sent, "\n"), "Incident #1, proposed: roll back web") {
		t.Errorf("primary got %v", sent)
	}
}

// TestEscalationAfterAckTimeout: the second level is paged once the
// incident has waited ack_timeout unacknowledged, not a moment before,
// and an acknowledged incident does not escalate.
func TestEscalationAfterAckTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	f.fire("HighErrorRate", "P1", "web", 0.3)
	if got := f.notes.to("primary"); len(got) != 1 {
		t.Fatalf("primary got %v", got)
	}
	f.clock.Advance(15*time.Minute - time.Second)
	f.m.Tick(context.Background())
	f.m.Wait()
	if got := f.notes.to("secondary"); len(got) != 0 {
		t.Fatalf("escalated before ack_timeout: %v", got)
	}
	f.clock.Advance(time.Second)
	f.m.Tick(context.Background())
	f.m.Wait()
	got := f.notes.to("secondary")
	if len(got) != 1 || !strings.Contains(got[0], "escalated to level 2, not acknowledged within 15m0s") {
		t.Fatalf("secondary got %v", got)
	}
	f.clock.Advance(time.Hour)
	f.m.Tick(context.Background())
	f.m.Wait()
	if n := len(f.notes.to("secondary")); n != 1 {
		t.Errorf("secondary paged %d times, want once (there is no third level)", n)
	}
	inc := f.only()
	if inc.Level != 2 || !has(inc, KindEscalation, "escalated to level 2 (secondary)") {
		t.Errorf("incident = %+v\n%s", inc, strings.Join(kinds(inc), "\n"))
	}

	// Acknowledged in time: no escalation.
	g := newFixture(t, baseConfig())
	g.fire("HighErrorRate", "P1", "web", 0.3)
	if _, err := g.m.Ack(context.Background(), 1, AckRequest{By: "ana"}); err != nil {
		t.Fatal(err)
	}
	g.clock.Advance(time.Hour)
	g.m.Tick(context.Background())
	g.m.Wait()
	if got := g.notes.to("secondary"); len(got) != 0 {
		t.Errorf("an acknowledged incident escalated: %v", got)
	}
}

// TestConcurrentAcksAreSerialised: two people acknowledge at once; the
// incident is acknowledged once, by the first, and the timeline holds
// both.
func TestConcurrentAcksAreSerialised(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	f.fire("HighErrorRate", "P1", "web", 0.3)
	var wg sync.WaitGroup
	for _, who := range []string{"ana", "ben"} {
		wg.Go(func() {
			if _, err := f.m.Ack(context.Background(), 1, AckRequest{By: who}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	inc := f.only()
	if inc.State != StateAcknowledged || inc.AcknowledgedAt == nil {
		t.Fatalf("incident = %+v", inc)
	}
	first, second := 0, 0
	for _, e := range inc.Timeline {
		if strings.HasPrefix(e.Text, "acknowledged by ") && !strings.Contains(e.Text, " too ") {
			first++
		}
		if strings.Contains(e.Text, " too (already acknowledged by "+inc.AcknowledgedBy) {
			second++
		}
	}
	if first != 1 || second != 1 {
		t.Errorf("acknowledgements: %d first, %d second; want 1 and 1:\n%s", first, second, strings.Join(kinds(inc), "\n"))
	}
	if _, err := f.m.Ack(context.Background(), 1, AckRequest{Severity: "P9"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad severity: %v", err)
	}
	if _, err := f.m.Ack(context.Background(), 9, AckRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing incident: %v", err)
	}
}

// TestGroupingAndSeverities: a second alert of the service within the
// group window joins the incident (raising its severity), a later one
// opens another, and a P3 alert opens none but is context.
func TestGroupingAndSeverities(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	f.fire("HighErrorRate", "P1", "web", 0.3)
	f.clock.Advance(5 * time.Minute)
	f.fire("InstanceDown", "P0", "web", 0)
	f.fire("DiskSpaceLow", "P3", "web", 91)
	inc := f.only()
	if len(inc.Alerts) != 2 || inc.Severity != "P0" || !has(inc, KindState, "severity raised from P1 to P0 by InstanceDown") {
		t.Errorf("joined incident = %+v\n%s", inc, strings.Join(kinds(inc), "\n"))
	}
	if !has(inc, KindAlert, "P3 DiskSpaceLow fired") {
		t.Error("the P3 alert is not in the timeline")
	}
	f.clock.Advance(6 * time.Minute)
	f.fire("HighLatency", "P1", "web", 3)
	f.fire("HighErrorRate", "P1", "db", 0.2)
	list, _ := f.m.List(context.Background(), ListParams{State: "open"})
	if len(list) != 3 {
		t.Errorf("%d open incidents, want 3 (web, web after the window, db)", len(list))
	}
	// The same firing heard again (a restarted server) opens nothing.
	f.start()
	f.fire("HighErrorRate", "P1", "db", 0.2)
	if list, _ := f.m.List(context.Background(), ListParams{}); len(list) != 3 {
		t.Errorf("%d incidents after hearing a firing again", len(list))
	}
	if _, err := f.m.List(context.Background(), ListParams{State: "nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
}

// TestRouteOpenFor: a route's open_for wins over incidents.open_for.
func TestRouteOpenFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	lbls := map[string]string{"alertname": "Slow", "severity": "P2", "service": "web"}
	a := alertOf(lbls, f.clock.Now())
	f.m.HandleAlert(context.Background(), changeOf(a, []string{"P2"}))
	if list, _ := f.m.List(context.Background(), ListParams{}); len(list) != 1 {
		t.Fatalf("a P2 alert on a route with open_for [P2] opened %d incidents", len(list))
	}
	lbls = map[string]string{"alertname": "Down", "severity": "P0", "service": "db"}
	f.m.HandleAlert(context.Background(), changeOf(alertOf(lbls, f.clock.Now()), []string{}))
	if list, _ := f.m.List(context.Background(), ListParams{}); len(list) != 1 {
		t.Errorf("a route with open_for [] opened an incident")
	}
}

// TestGuards: one automatic action of a kind per service per hour, none
// while a release waits for approval, none without a fresh deploy.
func TestGuards(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Services["web"].Remediation = []*config.Remediation{{Alert: "HighErrorRate", Action: config.ActionRollback}}
	cfg.Services["db"].Remediation = []*config.Remediation{{Alert: "HighErrorRate", Action: config.ActionRollback}}
	f := newFixture(t, cfg)
	f.changes = []Change{{Time: t0.Add(-time.Minute), Kind: KindDeploy, Text: "deploy r2 of web", Release: "r2", Key: "r2"}}
	a := f.fire("HighErrorRate", "P1", "web", 0.3)
	f.clock.Advance(time.Minute)
	f.resolve(a)
	f.clock.Advance(20 * time.Minute)
	f.changes = append(f.changes, Change{Time: f.clock.Now().Add(-time.Minute), Kind: KindDeploy, Text: "deploy r3 of web", Release: "r3", Key: "r3"})
	f.fire("HighErrorRate", "P1", "web", 0.3)
	if got := f.acts.list(); len(got) != 1 {
		t.Fatalf("actions = %v, want one rollback in the hour", got)
	}
	list, _ := f.m.List(context.Background(), ListParams{State: "open"})
	if inc := f.show(list[0].ID); !has(inc, KindRemediation, "held back: tug already did a rollback of web") {
		t.Errorf("no guard note:\n%s", strings.Join(kinds(inc), "\n"))
	}

	f.acts.busy = "release r9 of db awaits approval"
	f.changes = append(f.changes, Change{Time: f.clock.Now().Add(-time.Minute), Kind: KindDeploy, Text: "deploy r8 of db", Release: "r8", Key: "r8"})
	f.fire("HighErrorRate", "P1", "db", 0.3)
	if got := f.acts.list(); len(got) != 1 {
		t.Fatalf("acted during an approval wait: %v", got)
	}
	list, _ = f.m.List(context.Background(), ListParams{Service: "db"})
	if inc := f.show(list[0].ID); !has(inc, KindRemediation, "held back: release r9 of db awaits approval") {
		t.Errorf("no approval note:\n%s", strings.Join(kinds(inc), "\n"))
	}

	g := newFixture(t, cfg)
	g.fire("HighErrorRate", "P1", "web", 0.3)
	if got := g.acts.list(); len(got) != 0 {
		t.Errorf("rolled back with no deploy before the alert: %v", got)
	}
	if inc := g.only(); !has(inc, KindRemediation, "skipped: no deploy of web in the 30m0s before HighErrorRate fired") {
		t.Errorf("no skip note:\n%s", strings.Join(kinds(inc), "\n"))
	}
}

// TestRestartAndScaleOut: restart targets the alert's instance; scale out
// adds one up to max and stops there.
func TestRestartAndScaleOut(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Services["web"].Remediation = []*config.Remediation{
		{Alert: "InstanceDown", Action: config.ActionRestart},
		{Alert: "HighLatency", Action: config.ActionScaleOut, Max: 3},
	}
	f := newFixture(t, cfg)
	lbls := map[string]string{"alertname": "InstanceDown", "severity": "P1", "service": "web", "instance": "web-default-r1-2"}
	f.m.HandleAlert(context.Background(), changeOf(alertOf(lbls, f.clock.Now()), nil))
	f.m.Wait()
	slow := f.fire("HighLatency", "P1", "web", 3)
	f.acts.replicas = 3
	f.clock.Advance(2 * time.Hour)
	f.resolve(slow)
	f.fire("HighLatency", "P1", "web", 3) // fires again: joins the incident that still holds it
	got := f.acts.list()
	if len(got) != 2 || got[0] != "restart web  web-default-r1-2 by tug" || got[1] != "scale web  3 by tug" {
		t.Errorf("actions = %v", got)
	}
	list, _ := f.m.List(context.Background(), ListParams{})
	if inc := f.show(list[0].ID); !has(inc, KindRemediation, "already runs 3 instance(s), its max") {
		t.Errorf("no max note:\n%s", strings.Join(kinds(inc), "\n"))
	}
}

// TestManualLifecycle: open by hand, note, mitigate, resolve; the times
// and who are recorded; bad input changes nothing.
func TestManualLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	ctx := context.Background()
	if _, err := f.m.Open(ctx, OpenRequest{Title: " ", Severity: "P2"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty title: %v", err)
	}
	if _, err := f.m.Open(ctx, OpenRequest{Title: "x", Severity: "urgent"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad severity: %v", err)
	}
	if _, err := f.m.Open(ctx, OpenRequest{Title: "x", Severity: "P2", Service: "nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown service: %v", err)
	}
	inc, err := f.m.Open(ctx, OpenRequest{Title: "checkout is slow", Severity: "high", Service: "web", By: "ann"})
	if err != nil || inc.Severity != "P1" || inc.OpenedBy != "ann" {
		t.Fatalf("Open = %+v, %v", inc, err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.m.Ack(ctx, inc.ID, AckRequest{By: "ben", Impact: "checkout takes 10s", Severity: "P2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Note(ctx, inc.ID, NoteRequest{By: "ben", Text: "we are on it", Public: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Note(ctx, inc.ID, NoteRequest{By: "ben", Text: ""}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty note: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.m.Mitigate(ctx, inc.ID, ChangeRequest{By: "ben", Note: "cache warmed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ClosePostmortem(ctx, inc.ID, ChangeRequest{}); !errors.Is(err, ErrState) {
		t.Errorf("close before resolution: %v", err)
	}
	f.clock.Advance(time.Minute)
	got, err := f.m.Resolve(ctx, inc.ID, ChangeRequest{By: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if *got.TimeToAcknowledge != 60 || *got.TimeToMitigate != 120 || *got.TimeToResolve != 180 || got.Severity != "P2" || got.Impact != "checkout takes 10s" {
		t.Errorf("resolved = %+v", got)
	}
	st, err := f.m.Status(ctx)
	if err != nil || len(st.Incidents) != 0 || st.Services[0].State != Operational {
		t.Errorf("status after resolution = %+v, %v", st, err)
	}
}

func TestIncreaseExprParses(t *testing.T) {
	t.Parallel()
	e := increaseExpr(`tug_proxy_requests_total{service="web",code=~"5.."}`, t0, t0.Add(90*time.Second), t0.Add(10*time.Minute))
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(e); err != nil {
		t.Fatalf("%s: %v", e, err)
	}
	if !strings.Contains(e, "[90000ms] offset 510000ms") || !strings.Contains(e, "offset 600000ms") {
		t.Errorf("expr = %s", e)
	}
}

func TestErrorLinesOnlyNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	for i := range 5 {
		f.logs = append(f.logs, logs.Line{Time: t0.Add(time.Duration(i) * time.Second), Service: "web", Instance: "web-1", Text: "ERROR db timeout after 3s"})
	}
	f.logs = append(f.logs, logs.Line{Time: t0.Add(time.Second), Service: "web", Instance: "web-1", Stream: logs.StreamAccess, Text: `{"status":500,"error":"x"}`})
	es := f.m.errorLines(context.Background(), "web", "", t0, t0.Add(time.Minute))
	if len(es) != 1 || !strings.Contains(es[0].Text, "5 times") {
		t.Errorf("entries = %+v", es)
	}
}

// TestRestartHearsAlertsAgain: after a restart the alert engine fires an
// alert that was firing before with a new start: it stays in its
// incident. An alert that resolved while no server ran is resolved once
// the engine can tell, and its incident with it.
func TestRestartHearsAlertsAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	a := f.fire("HighErrorRate", "P1", "web", 0.3)
	b := f.fire("HighErrorRate", "P1", "db", 0.3)
	f.clock.Advance(30 * time.Minute)
	f.start()
	f.fire("HighErrorRate", "P1", "web", 0.3) // a new StartsAt, same alert
	if list, _ := f.m.List(context.Background(), ListParams{}); len(list) != 2 {
		t.Fatalf("%d incidents after hearing a firing alert again, want 2", len(list))
	}
	// The engine can tell now: web's alert fires, db's does not.
	f.notes.mu.Lock()
	f.notes.known = true
	f.notes.firing = []*alert.Alert{{ID: a.ID, State: alert.StateFiring, StartsAt: f.clock.Now()}}
	f.notes.mu.Unlock()
	f.m.Tick(context.Background())
	f.m.Wait()
	list, _ := f.m.List(context.Background(), ListParams{})
	for _, inc := range list {
		want := StateDetected
		if inc.Service == b.Labels["service"] {
			want = StateResolved
		}
		if inc.State != want {
			t.Errorf("incident of %s is %s, want %s", inc.Service, inc.State, want)
		}
	}
}
