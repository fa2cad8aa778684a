package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestIncidentsPersist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	inc := &Incident{Title: "web fails", Severity: "P1", Service: "web", State: "detected", OpenedAt: t0}
	if err := st.CreateIncident(ctx, inc, []IncidentEntry{{At: t0, Kind: "alert", Key: "alert:a", Text: "fired"}}); err != nil {
		t.Fatal(err)
	}
	if inc.ID == 0 {
		t.Fatal("no ID")
	}
	if err := st.CreateIncident(ctx, &Incident{Title: "x"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad incident: %v", err)
	}
	// Context gathered twice is kept once.
	n, err := st.AddIncidentEntries(ctx, inc.ID, []IncidentEntry{
		{At: t0.Add(-time.Minute), Kind: "deploy", Key: "release:r2", Text: "r2 deployed"},
		{At: t0, Kind: "alert", Key: "alert:a", Text: "fired again"},
	})
	if err != nil || n != 1 {
		t.Fatalf("AddIncidentEntries = %d, %v; want 1 new", n, err)
	}
	if _, err := st.AddIncidentEntries(ctx, 999, []IncidentEntry{{At: t0, Kind: "note", Text: "x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("entries of a missing incident: %v", err)
	}

	// Two transitions at once: each sees the other's result.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			_, err := st.UpdateIncident(ctx, inc.ID, func(in *Incident) ([]IncidentEntry, error) {
				what := "acknowledged"
				if in.State == "acknowledged" {
					what = "acknowledged again"
				}
				in.State, in.AcknowledgedAt = "acknowledged", t0.Add(time.Minute)
				return []IncidentEntry{{At: t0.Add(time.Minute), Kind: "state", Text: fmt.Sprintf("%s by %d", what, i)}}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := st.UpdateIncident(ctx, inc.ID, func(*Incident) ([]IncidentEntry, error) { return nil, errors.New("no") }); err == nil {
		t.Error("an error from fn was lost")
	}

	st.Close()
	st, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.GetIncident(ctx, inc.ID)
	if err != nil || got.State != "acknowledged" || !got.AcknowledgedAt.Equal(t0.Add(time.Minute)) || got.Data != "{}" {
		t.Fatalf("GetIncident = %+v, %v", got, err)
	}
	entries, err := st.IncidentEntries(ctx, inc.ID)
	if err != nil || len(entries) != 4 {
		t.Fatalf("timeline = %+v, %v", entries, err)
	}
	if entries[0].Kind != "deploy" || entries[2].Text[:12] != "acknowledged" || entries[3].Text[:18] != "acknowledged again" {
		t.Errorf("timeline order: %+v", entries)
	}
	list, err := st.ListIncidents(ctx, IncidentFilter{States: []string{"detected", "acknowledged"}, Service: "web"})
	if err != nil || len(list) != 1 {
		t.Errorf("open incidents = %v, %v", list, err)
	}
	if list, _ := st.ListIncidents(ctx, IncidentFilter{States: []string{"resolved"}}); len(list) != 0 {
		t.Errorf("resolved incidents = %v", list)
	}
	if _, err := st.GetIncident(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing incident: %v", err)
	}

	a := &IncidentAction{IncidentID: inc.ID, Service: "web", Action: "rollback", Mode: "act", Who: "tug", At: t0, Status: "running"}
	if err := st.AddIncidentAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.SetIncidentActionStatus(ctx, a.ID, "done", `{"release":"r1"}`); err != nil {
		t.Fatal(err)
	}
	acts, err := st.IncidentActions(ctx, IncidentActionFilter{Service: "web", Action: "rollback", Since: t0.Add(-time.Hour), Statuses: []string{"done"}})
	if err != nil || len(acts) != 1 || acts[0].Data != `{"release":"r1"}` {
		t.Errorf("actions = %+v, %v", acts, err)
	}
	if acts, _ := st.IncidentActions(ctx, IncidentActionFilter{Service: "web", Since: t0.Add(time.Second)}); len(acts) != 0 {
		t.Errorf("actions since later = %+v", acts)
	}

	r := &RunbookRun{Runbook: "high-error-rate", IncidentID: inc.ID, Who: "ann", StartedAt: t0, Status: "running"}
	if err := st.CreateRunbookRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateRunbookRun(ctx, r.ID, func(r *RunbookRun) error { r.Status, r.FinishedAt = "failed", t0.Add(time.Minute); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetRunbookRun(ctx, r.ID); err != nil || got.Status != "failed" {
		t.Errorf("GetRunbookRun = %+v, %v", got, err)
	}
	if _, err := st.GetRunbookRun(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	runs, err := st.RunbookRuns(ctx, 0, "failed")
	if err != nil || len(runs) != 1 || !runs[0].FinishedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("runbook runs = %+v, %v", runs, err)
	}

	k1, err := st.IncidentKey(ctx, "ack")
	if err != nil || len(k1) != 32 {
		t.Fatalf("key = %x, %v", k1, err)
	}
	if k2, _ := st.IncidentKey(ctx, "ack"); !bytes.Equal(k1, k2) {
		t.Error("the key changed")
	}
}
