package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestLogsOrderAndSeq(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "test", "build") // plan order: test before build
	batches := [][]LogLine{
		{{Job: "build", Attempt: 1, Time: at(1), Line: "b1"}, {Job: "test", Attempt: 1, Time: at(1), Line: "t1"}},
		{{Job: "build", Attempt: 1, Line: "b2"}, {Job: "build", Attempt: 2, Line: "b3"}},
		{{Job: "test", Attempt: 1, Seq: 10, Line: "t10"}, {Job: "test", Attempt: 1, Line: "t11"}},
	}
	for _, b := range batches {
		if err := s.AppendLogs(ctx, id, b); err != nil {
			t.Fatal(err)
		}
	}
	if batches[1][0].Seq != 0 {
		t.Error("AppendLogs modified its input")
	}
	all, err := s.Logs(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []LogLine{
		{Job: "test", Attempt: 1, Seq: 1, Time: at(1), Line: "t1"},
		{Job: "test", Attempt: 1, Seq: 10, Line: "t10"},
		{Job: "test", Attempt: 1, Seq: 11, Line: "t11"},
		{Job: "build", Attempt: 1, Seq: 1, Time: at(1), Line: "b1"},
		{Job: "build", Attempt: 1, Seq: 2, Line: "b2"},
		{Job: "build", Attempt: 2, Seq: 3, Line: "b3"},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("Logs(all) =\n%+v\nwant\n%+v", all, want)
	}
	build, err := s.Logs(ctx, id, "build")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(build, want[3:]) {
		t.Errorf("Logs(build) = %+v", build)
	}
	// Lines of another run do not leak in.
	other := newRun(t, s, "test")
	s.AppendLogs(ctx, other, []LogLine{{Job: "test", Line: "other"}})
	if again, _ := s.Logs(ctx, id, "test"); len(again) != 3 {
		t.Errorf("Logs(test) = %d lines, want 3", len(again))
	}
}

func TestLogsEmptyRun(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	id := newRun(t, s, "a")
	for _, job := range []string{"", "a"} {
		got, err := s.Logs(context.Background(), id, job)
		if err != nil || len(got) != 0 {
			t.Errorf("Logs(%q) = %v, %v; want empty", job, got, err)
		}
	}
	if err := s.AppendLogs(context.Background(), id, nil); err != nil {
		t.Errorf("AppendLogs(nil) = %v", err)
	}
}

func TestAppendLogsBatchIsAtomic(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "a")
	if err := s.AppendLogs(ctx, id, []LogLine{{Job: "a", Line: "kept"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		run   int64
		lines []LogLine
		want  error
	}{
		{"unknown job late in batch", id, []LogLine{{Job: "a", Line: "x"}, {Job: "nope", Line: "y"}}, ErrNotFound},
		{"unknown run", 99, []LogLine{{Job: "a", Line: "x"}}, ErrNotFound},
		{"duplicate seq", id, []LogLine{{Job: "a", Line: "x"}, {Job: "a", Seq: 1, Line: "y"}}, ErrInvalid},
		{"negative seq", id, []LogLine{{Job: "a", Line: "x"}, {Job: "a", Seq: -1, Line: "y"}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.AppendLogs(ctx, tc.run, tc.lines); !errors.Is(err, tc.want) {
				t.Errorf("AppendLogs = %v, want %v", err, tc.want)
			}
		})
	}
	got, _ := s.Logs(ctx, id, "a")
	if len(got) != 1 || got[0].Line != "kept" {
		t.Errorf("after rejected batches: %+v", got)
	}
}

func TestLogsRejectsUnknown(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	id := newRun(t, s, "a")
	for _, tc := range []struct {
		run int64
		job string
	}{{99, ""}, {99, "a"}, {id, "nope"}} {
		if _, err := s.Logs(context.Background(), tc.run, tc.job); !errors.Is(err, ErrNotFound) {
			t.Errorf("Logs(%d, %q) = %v, want ErrNotFound", tc.run, tc.job, err)
		}
	}
}

func TestLogsManyLinesKeepOrder(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "a")
	for b := range 5 {
		var batch []LogLine
		for i := range 100 {
			batch = append(batch, LogLine{Job: "a", Line: fmt.Sprintf("%d", b*100+i)})
		}
		if err := s.AppendLogs(ctx, id, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Logs(ctx, id, "a")
	if len(got) != 500 {
		t.Fatalf("%d lines, want 500", len(got))
	}
	for i, l := range got {
		if l.Line != fmt.Sprint(i) || l.Seq != int64(i+1) {
			t.Fatalf("line %d = %+v", i, l)
		}
	}
}
