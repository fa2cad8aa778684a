package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// helperEnv makes the test binary act as a tug process that writes a run and
// is then killed (see TestMain).
const helperEnv = "TUG_STORE_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperProcess(dir))
	}
	if dir := os.Getenv(detachEnv); dir != "" {
		os.Exit(detachProcess(dir))
	}
	os.Exit(m.Run())
}

// helperProcess creates a run with jobs a, b, c, starts a, then appends log
// batches of 10 lines to a forever, printing "batch N" after each commit.
func helperProcess(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	id, err := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if err == nil {
		err = s.PutJobs(ctx, id, []string{"a", "b", "c"})
	}
	if err == nil {
		err = s.StartAttempt(ctx, id, "a", 1, time.Now())
	}
	if err == nil {
		err = s.FinishJob(ctx, id, "c", StatusSkipped, "not needed", nil, time.Now(), nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for b := 1; ; b++ {
		batch := make([]LogLine, 10)
		for i := range batch {
			batch[i] = LogLine{Job: "a", Attempt: 1, Time: time.Now(), Line: fmt.Sprintf("line %d", (b-1)*10+i+1)}
		}
		if err := s.AppendLogs(ctx, id, batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("batch %d\n", b)
	}
}

func TestCrashedRunBecomesInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Kill it mid-stream, after it reported a few committed batches.
	sc := bufio.NewScanner(out)
	committed := 0
	for committed < 5 && sc.Scan() {
		committed, _ = strconv.Atoi(strings.TrimPrefix(sc.Text(), "batch "))
	}
	if committed < 5 {
		t.Fatalf("helper stopped early (%v): %s", sc.Err(), stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := openT(t, dir, Options{Now: func() time.Time { return at(100) }})
	run, jobs, err := s.GetRun(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != StatusInterrupted || !run.FinishedAt.Equal(at(100)) || run.PID != cmd.Process.Pid {
		t.Errorf("run = %+v, want interrupted at %v owned by %d", run, at(100), cmd.Process.Pid)
	}
	want := map[string]string{"a": StatusInterrupted, "b": StatusInterrupted, "c": StatusSkipped}
	for _, j := range jobs {
		if j.Status != want[j.Name] {
			t.Errorf("job %s = %s, want %s", j.Name, j.Status, want[j.Name])
		}
		if j.FinishedAt.IsZero() {
			t.Errorf("job %s has no finish time", j.Name)
		}
	}
	atts, _ := s.Attempts(context.Background(), 1, "a")
	if len(atts) != 1 || atts[0].Status != StatusInterrupted {
		t.Errorf("attempts of a = %+v", atts)
	}
	lines, err := s.Logs(context.Background(), 1, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Every reported batch survived, and batches are whole: no torn writes.
	if len(lines) < committed*10 || len(lines)%10 != 0 {
		t.Fatalf("%d lines after %d reported batches of 10", len(lines), committed)
	}
	for i, l := range lines {
		if l.Seq != int64(i+1) || l.Line != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("line %d = %+v", i, l)
		}
	}
}

func TestOpenMarksOnlyDeadOwnersInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	alive := map[int]bool{100: true, 200: false, 300: false}
	s := openT(t, dir, Options{ProcessAlive: func(pid int) bool { return alive[pid] }})
	live := newRunPID(t, s, 100)
	dead := newRunPID(t, s, 200)
	done := newRunPID(t, s, 300)
	for _, id := range []int64{live, dead, done} {
		s.PutJobs(ctx, id, []string{"x", "y", "z"})
		s.StartAttempt(ctx, id, "x", 1, at(1))
		s.FinishJob(ctx, id, "z", StatusSuccess, "", intp(0), at(2), nil)
	}
	s.FinishRun(ctx, done, StatusFailed, at(3))
	s.Close()

	s2 := openT(t, dir, Options{
		Now:          func() time.Time { return at(50) },
		ProcessAlive: func(pid int) bool { return alive[pid] },
	})
	tests := []struct {
		id       int64
		run      string
		jobs     []string
		finished time.Time
	}{
		{live, StatusRunning, []string{StatusRunning, StatusPending, StatusSuccess}, time.Time{}},
		{dead, StatusInterrupted, []string{StatusInterrupted, StatusInterrupted, StatusSuccess}, at(50)},
		{done, StatusFailed, []string{StatusRunning, StatusPending, StatusSuccess}, at(3)},
	}
	for _, tc := range tests {
		r, jobs, err := s2.GetRun(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tc.run || !r.FinishedAt.Equal(tc.finished) {
			t.Errorf("run %d = %s at %v, want %s at %v", tc.id, r.Status, r.FinishedAt, tc.run, tc.finished)
		}
		for i, j := range jobs {
			if j.Status != tc.jobs[i] {
				t.Errorf("run %d job %s = %s, want %s", tc.id, j.Name, j.Status, tc.jobs[i])
			}
		}
	}
	// The finished job of the interrupted run keeps its own finish time.
	_, jobs, _ := s2.GetRun(ctx, dead)
	if !jobs[2].FinishedAt.Equal(at(2)) {
		t.Errorf("finished job's time changed to %v", jobs[2].FinishedAt)
	}
}

func newRunPID(t *testing.T, s *Store, pid int) int64 {
	t.Helper()
	id, err := s.CreateRun(context.Background(), &Run{Pipeline: "ci", PID: pid})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
