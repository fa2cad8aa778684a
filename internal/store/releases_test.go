package store

import (
	"context"
	"errors"
	"testing"
)

func TestReleasesSurviveReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openT(t, dir, Options{})
	r1 := &Release{Service: "web", Environment: "prod", Revision: "abc", Who: "ann", Strategy: "rolling", Status: "live", Spec: `{"x":1}`}
	if err := s.CreateRelease(ctx, r1); err != nil {
		t.Fatal(err)
	}
	r2 := &Release{Service: "web", Environment: "prod", Digest: "sha256:1", Status: "deploying"}
	if err := s.CreateRelease(ctx, r2); err != nil {
		t.Fatal(err)
	}
	other := &Release{Service: "api", Environment: "prod", Status: "live"}
	if err := s.CreateRelease(ctx, other); err != nil {
		t.Fatal(err)
	}
	if r1.ID != "r1" || r2.ID != "r2" || other.ID != "r3" {
		t.Fatalf("ids %s %s %s", r1.ID, r2.ID, other.ID)
	}
	r2.Status, r2.Reason, r2.FinishedAt, r2.ApprovedBy, r2.ApprovedAt = "failed", "health", at(5), "bob", at(3)
	if err := s.UpdateRelease(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeployRecord(ctx, "state", "web", "prod", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeployRecord(ctx, "state", "web", "prod", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.NextCounter(ctx, "table", 10); v != 10 {
		t.Fatalf("counter = %d", v)
	}
	if v, _ := s.NextCounter(ctx, "table", 5); v != 11 {
		t.Fatalf("counter = %d", v)
	}
	s.Close()

	s2 := openT(t, dir, Options{})
	list, err := s2.ListReleases(ctx, "web", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "r2" || list[1].ID != "r1" {
		t.Fatalf("list = %+v", list)
	}
	got := list[0]
	if got.Status != "failed" || got.Reason != "health" || !got.FinishedAt.Equal(at(5)) || got.ApprovedBy != "bob" || !got.ApprovedAt.Equal(at(3)) || got.Digest != "sha256:1" {
		t.Errorf("r2 = %+v", got)
	}
	g1, err := s2.GetRelease(ctx, "r1")
	if err != nil || g1.Revision != "abc" || g1.Who != "ann" || g1.Spec != `{"x":1}` || !g1.CreatedAt.Equal(at(0)) {
		t.Errorf("r1 = %+v, %v", g1, err)
	}
	if _, err := s2.GetRelease(ctx, "r99"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing release: %v", err)
	}
	recs, err := s2.DeployRecords(ctx, "state")
	if err != nil || len(recs) != 1 || string(recs[0].Data) != `{"a":2}` {
		t.Errorf("records = %+v, %v", recs, err)
	}
	if v, _ := s2.NextCounter(ctx, "table", 0); v != 12 {
		t.Errorf("counter after reopen = %d", v)
	}
	s2.DeleteDeployRecord(ctx, "state", "web", "prod")
	if recs, _ := s2.DeployRecords(ctx, "state"); len(recs) != 0 {
		t.Errorf("after delete: %+v", recs)
	}
	if err := s2.CreateRelease(ctx, &Release{Service: "web"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid release: %v", err)
	}
}
