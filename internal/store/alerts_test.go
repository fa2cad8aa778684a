package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAlertStatePersists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sl := AlertSilence{ID: "s1", Matchers: `alertname="X"`, StartsAt: t0, EndsAt: t0.Add(2 * time.Hour), CreatedBy: "ann", Comment: "deploy"}
	if err := st.SaveAlertSilence(ctx, sl); err != nil {
		t.Fatal(err)
	}
	sl.EndsAt = t0.Add(time.Hour) // expire early: replaces
	if err := st.SaveAlertSilence(ctx, sl); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveAlertSilence(ctx, AlertSilence{ID: "bad"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad silence: %v", err)
	}
	ack := AlertAck{Fingerprint: "abc", AlertName: "X", StartsAt: t0, By: "ann", At: t0.Add(time.Minute)}
	if err := st.SaveAlertAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveAlertAck(ctx, AlertAck{Fingerprint: "gone", StartsAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteAlertAck(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for i, outcome := range []string{"sent", "failed", "sent"} {
		id, err := st.AddAlertNotification(ctx, AlertNotification{At: t0.Add(time.Duration(i) * time.Minute), Channel: "ops",
			Kind: "webhook", Status: "firing", Outcome: outcome, Attempts: i + 1, Alerts: `[{"id":"abc"}]`})
		if err != nil || id != int64(i+1) {
			t.Fatalf("add notification: %d %v", id, err)
		}
	}
	if _, err := st.AddAlertNotification(ctx, AlertNotification{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad notification: %v", err)
	}
	st.Close()

	// A new process sees it all.
	st, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := st.AlertSilences(ctx)
	if err != nil || len(ss) != 1 || ss[0] != sl {
		t.Fatalf("silences = %+v, %v", ss, err)
	}
	as, err := st.AlertAcks(ctx)
	if err != nil || len(as) != 1 || as[0] != ack {
		t.Fatalf("acks = %+v, %v", as, err)
	}
	ns, err := st.AlertNotifications(ctx, 2)
	if err != nil || len(ns) != 2 || ns[0].ID != 3 || ns[1].Outcome != "failed" || ns[1].Attempts != 2 || ns[0].Alerts != `[{"id":"abc"}]` {
		t.Fatalf("notifications = %+v, %v", ns, err)
	}
	all, _ := st.AlertNotifications(ctx, 0)
	if len(all) != 3 {
		t.Fatalf("all notifications = %d", len(all))
	}
}
