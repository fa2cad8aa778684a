package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// writeLog records n records in a fresh log and closes it.
func writeLog(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	clock := testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	l, err := Open(dir, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		clock.Advance(time.Minute)
		if err := l.Record(context.Background(), Record{Actor: fmt.Sprintf("token:u%d", i%3), Action: "POST /api/deploys", Target: fmt.Sprintf("web/r%d", i), Source: "127.0.0.1:5000"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func lines(t *testing.T, dir string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
}

func rewrite(t *testing.T, dir string, ls [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range ls {
		b = append(b, bytes.TrimSuffix(l, []byte{'\n'})...)
		b = append(b, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, LogFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, dir string) *Report {
	t.Helper()
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRecordsChainAndReopen(t *testing.T) {
	t.Parallel()
	dir := writeLog(t, 5)
	if rep := verify(t, dir); !rep.OK() || rep.Records != 5 || rep.Head == nil || rep.Head.Seq != 5 {
		t.Fatalf("a log as written: %+v", rep)
	}
	ls := lines(t, dir)
	var prev string
	for i, l := range ls {
		r, intact, err := decode(bytes.TrimSuffix(l, []byte{'\n'}))
		if err != nil || !intact || r.Seq != uint64(i+1) || r.Prev != prev || r.Time.IsZero() || r.Outcome != OK {
			t.Fatalf("line %d: %+v %v %v", i+1, r, intact, err)
		}
		prev = r.Hash
	}
	// The next server goes on with the chain.
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h.Seq != 5 || h.Hash != prev {
		t.Fatalf("reopened at %+v", h)
	}
	l.Record(context.Background(), Record{Actor: "tug", Action: "config.apply"})
	l.Close()
	if rep := verify(t, dir); !rep.OK() || rep.Records != 6 {
		t.Fatalf("after reopening: %+v", rep)
	}
	// Query: by actor (as recorded, or a token's name), since, limit.
	l, _ = Open(dir, Options{})
	defer l.Close()
	ctx := context.Background()
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 6},
		{Filter{Actor: "u1"}, 2},
		{Filter{Actor: "token:u2"}, 2},
		{Filter{Limit: 2}, 2},
		{Filter{Since: time.Date(2025, 3, 1, 12, 4, 0, 0, time.UTC)}, 3},
	} {
		got, err := l.Query(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("%+v: %d records %v, want %d", c.f, len(got), err, c.want)
		}
	}
	if got, _ := l.Query(ctx, Filter{Limit: 2}); got[1].Seq != 6 {
		t.Errorf("limit keeps the newest: %+v", got)
	}
}

// TestVerifyNamesTampering: an edited, a deleted and a swapped record,
// and records cut from the end, are each found and named; the intact log
// passes.
func TestVerifyNamesTampering(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		tamper func(ls [][]byte) [][]byte
		kind   string
		seq    uint64
		want   string
	}{
		{"edited", func(ls [][]byte) [][]byte {
			ls[3] = bytes.Replace(ls[3], []byte(`"web/r4"`), []byte(`"web/r9"`), 1)
			return ls
		}, Changed, 4, "record 4 (line 4) was changed"},
		{"edited with its hash recomputed", func(ls [][]byte) [][]byte {
			r, _, _ := decode(bytes.TrimSuffix(ls[3], []byte{'\n'}))
			r.Actor = "someone-else"
			line, _, _ := encode(r)
			ls[3] = line
			return ls
		}, Changed, 4, "record 4 (line 4) was changed: record 5 links to another version of it"},
		{"deleted", func(ls [][]byte) [][]byte {
			return append(ls[:2:2], ls[3:]...)
		}, Missing, 3, "record 3 is missing: it was removed from between records 2 and 4"},
		{"swapped", func(ls [][]byte) [][]byte {
			ls[4], ls[5] = ls[5], ls[4]
			return ls
		}, OutOfOrder, 5, "records 5 and 6 are swapped (lines 5 and 6)"},
		{"cut from the end", func(ls [][]byte) [][]byte {
			return ls[:6]
		}, Missing, 7, "records 7 to 8 are missing from the end"},
		{"last edited", func(ls [][]byte) [][]byte {
			r, _, _ := decode(bytes.TrimSuffix(ls[7], []byte{'\n'}))
			r.Outcome = Failed
			line, _, _ := encode(r)
			ls[7] = line
			return ls
		}, Changed, 8, "record 8 (line 8) was changed: it is not the record the head names"},
		{"a line of garbage", func(ls [][]byte) [][]byte {
			return append(ls[:2:2], append([][]byte{[]byte("{\"seq\":3}\n")}, ls[2:]...)...)
		}, Unreadable, 0, "line 3 is not a record"},
		{"duplicated", func(ls [][]byte) [][]byte {
			return append(ls, ls[1])
		}, Duplicate, 2, "record 2 appears twice (lines 2 and 9)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := writeLog(t, 8)
			rewrite(t, dir, c.tamper(lines(t, dir)))
			rep := verify(t, dir)
			if len(rep.Problems) != 1 {
				t.Fatalf("want one problem, got %+v", rep.Problems)
			}
			p := rep.Problems[0]
			if p.Kind != c.kind || p.Seq != c.seq || !strings.Contains(p.Message, c.want) {
				t.Fatalf("got %+v, want %s of %d: %q", p, c.kind, c.seq, c.want)
			}
		})
	}
}

// A crash in the middle of a line leaves it torn: the next Open ends it,
// the chain goes on from the last whole record, and Verify reports the
// torn line and nothing else.
func TestTornLastLine(t *testing.T) {
	t.Parallel()
	dir := writeLog(t, 3)
	f, _ := os.OpenFile(filepath.Join(dir, LogFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"2025-03-01T12:`)
	f.Close()
	logger, logs := testkit.Logger()
	l, err := Open(dir, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h.Seq != 3 {
		t.Fatalf("head %+v", h)
	}
	if err := l.Record(context.Background(), Record{Actor: "tug", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if !strings.Contains(logs.String(), "cut short") {
		t.Errorf("not logged: %s", logs)
	}
	rep := verify(t, dir)
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != Unreadable || rep.Problems[0].Line != 4 || rep.Records != 4 {
		t.Fatalf("%+v", rep)
	}
}

// Records written at once from many goroutines form one chain without
// gaps, and a running Log's own Verify catches a cut the head file would
// not (the head is in memory).
func TestConcurrentRecordsAndLiveVerify(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := Open(dir, Options{Mask: func(s string) string { return strings.ReplaceAll(s, "hunter2", "<secret>") }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				r := Record{Actor: fmt.Sprintf("g%d", g), Action: "a", Detail: "password hunter2"}
				if i%2 == 0 {
					l.Note(r)
				} else {
					l.Record(context.Background(), r)
				}
			}
		})
	}
	wg.Wait()
	rep, err := l.Verify()
	if err != nil || !rep.OK() || rep.Records != 200 {
		t.Fatalf("%+v %v", rep, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, LogFile))
	if bytes.Contains(data, []byte("hunter2")) {
		t.Fatal("Mask was not applied")
	}
	if fi, _ := os.Stat(filepath.Join(dir, LogFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	ls := lines(t, dir)
	rewrite(t, dir, ls[:len(ls)-1])
	if rep, _ := l.Verify(); len(rep.Problems) != 1 || rep.Problems[0].Kind != Missing || rep.Problems[0].Seq != 200 {
		t.Fatalf("a cut while running: %+v", rep)
	}
}

func TestCallTargetAndDefer(t *testing.T) {
	t.Parallel()
	var got []Record
	var mu sync.Mutex
	write := func(_ context.Context, r Record) error { mu.Lock(); got = append(got, r); mu.Unlock(); return nil }
	ctx, call := StartCall(context.Background(), Record{Actor: "a", Action: "POST /x"}, write)
	SetTarget(ctx, "web/production")
	call.Finish(ctx, OK, "")
	call.Finish(ctx, OK, "")
	ctx2, call2 := StartCall(context.Background(), Record{Actor: "b"}, write)
	finish := Defer(ctx2)
	call2.Finish(ctx2, OK, "the answer ended") // the handler took it over
	finish(Failed, "rolled back")
	Defer(context.Background())(OK, "") // outside a call: nothing
	SetTarget(context.Background(), "x")
	if len(got) != 2 || got[0].Target != "web/production" || got[1].Outcome != Failed || got[1].Detail != "rolled back" {
		t.Fatalf("%+v", got)
	}
	b, _ := json.Marshal(got[0])
	if !bytes.Contains(b, []byte(`"target":"web/production"`)) {
		t.Fatal(string(b))
	}
}

// Records removed, or the last one changed, while no server ran: the next
// Open says so in the log itself and goes on after the head, so the gap
// stays and Verify names it, however many records follow.
func TestTamperingWhileStoppedStaysVisible(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		tamper func(ls [][]byte) [][]byte
		want   string
	}{
		{"cut", func(ls [][]byte) [][]byte { return ls[:3] }, "records 4 to 5 are missing"},
		{"emptied", func(ls [][]byte) [][]byte { return nil }, "records 1 to 5 are missing"},
		{"last changed", func(ls [][]byte) [][]byte {
			r, _, _ := decode(bytes.TrimSuffix(ls[4], []byte{'\n'}))
			r.Actor = "someone-else"
			ls[4], _, _ = encode(r)
			return ls
		}, "record 5 (line 5) was changed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := writeLog(t, 5)
			rewrite(t, dir, c.tamper(lines(t, dir)))
			logger, logs := testkit.Logger()
			l, err := Open(dir, Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			l.Record(context.Background(), Record{Actor: "tug", Action: "later"})
			rep, _ := l.Verify()
			recs, _ := l.Query(context.Background(), Filter{Actor: "tug"})
			l.Close()
			if !strings.Contains(logs.String(), "tampered") || len(recs) != 2 || recs[0].Action != "audit.damaged" {
				t.Fatalf("not said: %s %+v", logs, recs)
			}
			if rep.OK() || !strings.Contains(rep.Problems[0].Message, c.want) {
				t.Fatalf("verify: %+v", rep.Problems)
			}
			if again := verify(t, dir); again.OK() || !strings.Contains(again.Problems[0].Message, c.want) {
				t.Fatalf("verify from the files: %+v", again.Problems)
			}
		})
	}
}
