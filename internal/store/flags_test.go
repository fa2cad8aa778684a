package store

import (
	"context"
	"testing"
)

// TestFlagChangesByServiceAndEnvironment: a change and its record land
// together, survive a reopen, and are found by service, environment and
// flag, oldest first.
func TestFlagChangesByServiceAndEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openT(t, dir, Options{})
	c1 := &FlagChange{Flag: "checkout", Environment: "production", Services: []string{"web", "api"}, Kind: "kill", Who: "ann", Before: `{"a":1}`, After: `{"a":2}`, Time: at(1)}
	if err := s.ChangeFlag(ctx, "override", []byte(`{"kill":true}`), c1); err != nil {
		t.Fatal(err)
	}
	c2 := &FlagChange{Flag: "checkout", Environment: "staging", Services: []string{"web"}, Kind: "set", Time: at(2)}
	if err := s.ChangeFlag(ctx, "override", []byte(`{"v":"on"}`), c2); err != nil {
		t.Fatal(err)
	}
	c3 := &FlagChange{Flag: "checkout", Environment: "production", Services: []string{"web", "api"}, Kind: "reset", Time: at(3)}
	if err := s.ChangeFlag(ctx, "override", nil, c3); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeFlag(ctx, "override", nil, &FlagChange{}); err == nil {
		t.Error("a change without flag and environment was taken")
	}
	s.Close()
	s = openT(t, dir, Options{})
	recs, err := s.FlagRecords(ctx, "override")
	if err != nil || len(recs) != 1 || recs[0].Environment != "staging" {
		t.Fatalf("records after reset: %+v %v", recs, err)
	}
	got, err := s.FlagChanges(ctx, FlagChangeQuery{Service: "api"})
	if err != nil || len(got) != 2 || got[0].Kind != "kill" || got[1].Kind != "reset" || got[0].Who != "ann" || len(got[0].Services) != 2 || got[0].Before != `{"a":1}` {
		t.Fatalf("api's changes: %+v %v", got, err)
	}
	if got, _ := s.FlagChanges(ctx, FlagChangeQuery{Service: "web", Environment: "staging"}); len(got) != 1 || got[0].Seq != c2.Seq {
		t.Fatalf("web in staging: %+v", got)
	}
	if got, _ := s.FlagChanges(ctx, FlagChangeQuery{Since: at(2), Limit: 1}); len(got) != 1 || got[0].Kind != "reset" {
		t.Fatalf("since and limit: %+v", got)
	}
}
