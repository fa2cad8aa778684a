package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

type fixture struct {
	dir   string
	clock *testkit.Clock
	ins   []runtime.Instance
	l     *Logs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), clock: testkit.NewClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))}
	f.ins = []runtime.Instance{{ID: "web-1", Service: "web", Environment: "prod", Release: "r7"}}
	if err := os.MkdirAll(filepath.Join(f.dir, "instances", "web-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.dir, "proxy"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	l, err := New(context.Background(), Options{
		StateDir: f.dir, Now: f.clock.Now, Poll: 10 * time.Millisecond,
		Instances: func(context.Context) ([]runtime.Instance, error) { return f.ins, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f.l = l
}

func (f *fixture) outPath() string { return filepath.Join(f.dir, "instances", "web-1", "output.log") }

// accessPath is an access-log segment as the proxy names them.
func (f *fixture) accessPath() string {
	os.MkdirAll(accessDir(f.dir), 0o700)
	return filepath.Join(accessDir(f.dir), "access-20261101T110000.000000000Z.log")
}

func appendFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, l := range lines {
		if _, err := fh.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func texts(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

func (f *fixture) search(t *testing.T, q Query) []Line {
	t.Helper()
	ls, err := f.l.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func wantTexts(t *testing.T, got []Line, want ...string) {
	t.Helper()
	if g := strings.Join(texts(got), "|"); g != strings.Join(want, "|") {
		t.Fatalf("lines = %q\nwant    %q", texts(got), want)
	}
}

func TestIngestAttributesEverySource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	appendFile(t, f.outPath(), "listening on :8080", "GET / 200")
	appendFile(t, f.accessPath(),
		`{"ts":"2026-11-01T11:59:00.000Z","request_id":"a","method":"GET","host":"web.localhost","path":"/","status":200,"service":"web","environment":"prod","release":"r7","instance":"web-1","upstream":"127.0.0.1:9"}`,
		`{"ts":"2026-11-01T11:59:01.000Z","request_id":"b","method":"GET","host":"nope.localhost","path":"/","status":404}`)
	var sink strings.Builder
	log := slog.New(Handler(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelWarn}), f.l))
	log.With("component", "deploy").Info("deploy started", "service", "web", "note", "two words")
	log.Debug("not stored")
	f.l.step(ctx, true)

	web := f.search(t, Query{Service: "web"})
	if len(web) != 3 {
		t.Fatalf("web lines = %+v", web)
	}
	for _, l := range web {
		if l.Service != "web" || l.Environment != "prod" || l.Release != "r7" || l.Instance != "web-1" {
			t.Errorf("attribution of %q: %+v", l.Text, l)
		}
	}
	streams := map[string]int{}
	for _, l := range web {
		streams[l.Stream]++
	}
	if streams[StreamStdout] != 2 || streams[StreamAccess] != 1 {
		t.Errorf("streams = %v", streams)
	}
	acc := f.search(t, Query{Service: ServiceProxy})
	if len(acc) != 2 || !acc[0].Time.Equal(time.Date(2026, 11, 1, 11, 59, 0, 0, time.UTC)) || acc[1].Service != ServiceProxy {
		t.Errorf("proxy lines = %+v", acc)
	}
	tug := f.search(t, Query{Service: ServiceTug})
	wantTexts(t, tug, `INFO deploy started component=deploy service=web note="two words"`)
	if tug[0].Stream != StreamTug {
		t.Errorf("tug stream = %q", tug[0].Stream)
	}
	if sink.Len() != 0 {
		t.Errorf("next handler got records below its level: %q", sink.String())
	}
	if n := len(f.search(t, Query{Service: "web", Env: "staging"})); n != 0 {
		t.Errorf("env filter kept %d lines", n)
	}
}

func TestGrepAndSinceFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	appendFile(t, f.outPath(), "old error: disk")
	f.l.step(ctx, false)
	f.clock.Set(f.clock.Now().Add(20 * time.Minute))
	appendFile(t, f.outPath(), "new error: timeout", "new ok")
	f.l.step(ctx, false)

	q, err := Params{Service: "web", Since: "10m"}.Query(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantTexts(t, f.search(t, q), "new error: timeout", "new ok")
	q, err = Params{Service: "web", Grep: `error: \w+`}.Query(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantTexts(t, f.search(t, q), "old error: disk", "new error: timeout")
	wantTexts(t, f.search(t, Query{Service: "web", Grep: regexp.MustCompile("error"), Limit: 1}), "new error: timeout")

	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "7d": 7 * 24 * time.Hour, "1w1d12h": 8*24*time.Hour + 12*time.Hour} {
		if got, err := ParseSince(in, f.clock.Now()); err != nil || f.clock.Now().Sub(got) != want {
			t.Errorf("ParseSince(%q) = %v, %v", in, got, err)
		}
	}
	for param, v := range map[string]Params{
		"since":   {Service: "web", Since: "yesterday"},
		"grep":    {Service: "web", Grep: "(unclosed"},
		"limit":   {Service: "web", Limit: -1},
		"service": {},
	} {
		if _, err := v.Query(f.clock.Now()); err == nil || !strings.Contains(err.Error(), param+":") {
			t.Errorf("%s: error %v does not name it", param, err)
		}
	}
	srv := httptest.NewServer(logsRouter(t, f.l))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/logs?service=web&since=bogus")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Error.Code != "bad_request" || !strings.HasPrefix(body.Error.Message, "bad log query: since:") {
		t.Errorf("bad since: %d %+v", resp.StatusCode, body)
	}
	resp, err = http.Get(srv.URL + "/api/logs?service=web&grep=timeout")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ln Line
	if err := json.Unmarshal(b, &ln); err != nil || ln.Text != "new error: timeout" || strings.Count(string(b), "\n") != 1 {
		t.Errorf("GET grep: %s (%v)", b, err)
	}
}

func TestFollowDeliversLinesAppendedLater(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	appendFile(t, f.outPath(), "before")
	f.l.step(ctx, false)
	go func() { defer close(done); f.l.Run(ctx) }()

	srv := httptest.NewServer(logsRouter(t, f.l))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/logs?service=web&follow=1&grep=^(before|after)", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Headers arrived: the search is done and the follow has its start.
	appendFile(t, f.outPath(), "ignored", "after")
	sc := bufio.NewScanner(resp.Body)
	var got []string
	deadline := time.AfterFunc(20*time.Second, cancel)
	defer deadline.Stop()
	for len(got) < 2 && sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Text)
	}
	if strings.Join(got, "|") != "before|after" {
		t.Fatalf("followed %q", got)
	}
}

// rotateCopyTruncate does what runtime's rotateLog does, in two halves.
func copyRotated(t *testing.T, path string) {
	t.Helper()
	os.Rename(path+".1", path+".2")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCopyTruncateRotationLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p := f.outPath()
	appendFile(t, p, "a1", "a2")
	f.l.step(ctx, false)
	appendFile(t, p, "a3", "a4") // written, not yet read, then rotated
	copyRotated(t, p)
	f.l.step(ctx, false) // copied but not truncated: must neither skip nor repeat
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "a5")
	f.l.step(ctx, false)
	appendFile(t, p, "a6")
	f.l.step(ctx, false)
	// A second rotation without a poll in the middle.
	appendFile(t, p, "a7")
	copyRotated(t, p)
	os.Truncate(p, 0)
	appendFile(t, p, "a8")
	f.l.step(ctx, false)
	wantTexts(t, f.search(t, Query{Service: "web"}), "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")
}

func TestOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	appendFile(t, f.outPath(), "one", "two")
	appendFile(t, f.accessPath(), `{"path":"/a"}`)
	f.l.step(ctx, false)
	f.l.Close()
	f.open(t)
	f.l.step(ctx, false)
	appendFile(t, f.outPath(), "three")
	f.l.step(ctx, false)
	wantTexts(t, f.search(t, Query{Service: "web"}), "one", "two", "three")
	wantTexts(t, f.search(t, Query{Service: ServiceProxy}), `{"path":"/a"}`)
}

func TestPartialLineWaitsForItsNewline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	fh, _ := os.OpenFile(f.outPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	defer fh.Close()
	fh.WriteString("hal")
	f.l.step(ctx, false)
	fh.WriteString("f\n")
	f.l.step(ctx, false)
	wantTexts(t, f.search(t, Query{Service: "web"}), "half")
}

func TestRetentionDeletesOldLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	appendFile(t, f.outPath(), "ancient")
	f.l.step(ctx, false)
	f.clock.Set(f.clock.Now().Add(DefaultRetention + time.Hour))
	appendFile(t, f.outPath(), "fresh")
	f.l.step(ctx, false)
	f.l.prune(ctx)
	wantTexts(t, f.search(t, Query{Service: "web"}), "fresh")
}

// TestSetRetentionAppliesLive: logs.retention changed by a reload prunes
// by the new value without a restart.
func TestSetRetentionAppliesLive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	appendFile(t, f.outPath(), "two hours old")
	f.l.step(ctx, false)
	f.clock.Set(f.clock.Now().Add(2 * time.Hour))
	appendFile(t, f.outPath(), "fresh")
	f.l.step(ctx, false)
	f.l.prune(ctx)
	wantTexts(t, f.search(t, Query{Service: "web"}), "two hours old", "fresh")
	f.l.SetRetention(time.Hour)
	f.l.prune(ctx)
	wantTexts(t, f.search(t, Query{Service: "web"}), "fresh")
}

// With Since, engine lines resume by the engine's times: repeats are
// kept, nothing is read twice, also after a restart, and lines carry the
// engine's time.
func TestEngineSinceResumesByTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.ins = []runtime.Instance{{ID: "api-1", Service: "api", Environment: "prod", Release: "r1", ContainerID: "c1"}}
	t0 := f.clock.Now().Add(-time.Minute)
	var engine []runtime.LogLine
	say := func(texts ...string) {
		for _, x := range texts {
			engine = append(engine, runtime.LogLine{Time: t0.Add(time.Duration(len(engine)) * time.Millisecond), Text: x})
		}
	}
	var asked []time.Time
	since := func(_ context.Context, id string, s time.Time) ([]runtime.LogLine, error) {
		asked = append(asked, s)
		var out []runtime.LogLine
		for _, l := range engine {
			if !l.Time.Before(s) {
				out = append(out, l)
			}
		}
		return out, nil
	}
	f.l.o.Since = since
	say("x", "x")
	// The proxy logged a request to the instance before its output was
	// first read: that line's later time is not where the output resumes.
	if err := commit(ctx, f.l.db, []Line{{Time: f.clock.Now(), Service: "api", Instance: "api-1", Stream: StreamAccess, Text: `{"path":"/"}`}}, nil); err != nil {
		t.Fatal(err)
	}
	f.l.step(ctx, true)
	say("x", "y")
	f.l.step(ctx, true)
	f.l.step(ctx, true)
	f.l.Close()
	f.open(t) // the position comes back from the database
	f.l.o.Since = since
	say("z")
	f.l.step(ctx, true)
	var got []Line
	for _, l := range f.search(t, Query{Service: "api"}) {
		if l.Stream == StreamStdout {
			got = append(got, l)
		}
	}
	wantTexts(t, got, "x", "x", "x", "y", "z")
	for i, l := range got {
		if !l.Time.Equal(engine[i].Time) {
			t.Errorf("line %d at %v, want the engine's %v", i, l.Time, engine[i].Time)
		}
	}
	if last := asked[len(asked)-1]; !last.Equal(engine[3].Time.Add(time.Nanosecond)) {
		t.Errorf("after the restart it asked from %v, want just after %v", last, engine[3].Time)
	}
}

func TestSearchScanSpeed(t *testing.T) {
	t.Parallel()
	if os.Getenv("TUG_MEASURE") == "" {
		t.Skip("a measurement: TUG_MEASURE=1 go test ./internal/logs -run Speed -v")
	}
	f := newFixture(t)
	ctx := context.Background()
	lines := make([]Line, 100000)
	for i := range lines {
		lines[i] = Line{Time: f.clock.Now(), Service: "web", Stream: StreamStdout, Text: fmt.Sprintf("GET /item/%d 200 %dms", i, i%97)}
	}
	start := time.Now()
	if err := commit(ctx, f.l.db, lines, nil); err != nil {
		t.Fatal(err)
	}
	ins := time.Since(start)
	start = time.Now()
	got := f.search(t, Query{Service: "web", Grep: regexp.MustCompile(`/item/\d+7 200 9\dms`), Limit: 100000})
	t.Logf("insert 100k lines: %v; regexp scan of 100k: %v (%d matches)", ins, time.Since(start), len(got))
}

// TestAccessLogReadAtQueryTime: access lines are never stored at ingest;
// searches, follows and retention read the proxy's segments with the same
// filters as stored lines.
func TestAccessLogReadAtQueryTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	dir := accessDir(f.dir)
	os.MkdirAll(dir, 0o700)
	acc := func(ts, svc, env, path string) string {
		return fmt.Sprintf(`{"ts":"%s","request_id":"x","method":"GET","host":"h","path":"%s","status":200,"service":"%s","environment":"%s","release":"r1","instance":"%s-1"}`, ts, path, svc, env, svc)
	}
	seg1 := filepath.Join(dir, "access-20261101T090000.000000000Z.log")
	seg2 := filepath.Join(dir, "access-20261101T110000.000000000Z.log")
	appendFile(t, seg1, acc("2026-11-01T09:00:00.000Z", "web", "prod", "/old"), acc("2026-11-01T09:00:01.000Z", "api", "prod", "/api-old"))
	os.Chtimes(seg1, time.Date(2026, 11, 1, 9, 59, 0, 0, time.UTC), time.Date(2026, 11, 1, 9, 59, 0, 0, time.UTC))
	appendFile(t, seg2, acc("2026-11-01T11:59:00.000Z", "web", "prod", "/new"), acc("2026-11-01T11:59:01.000Z", "web", "staging", "/stg"))
	appendFile(t, f.outPath(), "stdout line")
	f.l.step(ctx, true)
	var stored int
	f.l.db.QueryRow(`SELECT COUNT(*) FROM lines WHERE stream = ?`, StreamAccess).Scan(&stored)
	if stored != 0 {
		t.Fatalf("%d access lines stored at ingest", stored)
	}

	paths := func(ls []Line) []string {
		var out []string
		for _, l := range ls {
			if l.Stream == StreamAccess {
				var e struct{ Path string }
				json.Unmarshal([]byte(l.Text), &e)
				out = append(out, e.Path)
			} else {
				out = append(out, l.Text)
			}
		}
		return out
	}
	want := func(q Query, exp ...string) {
		t.Helper()
		if got := paths(f.search(t, q)); strings.Join(got, "|") != strings.Join(exp, "|") {
			t.Fatalf("%+v: %q, want %q", q, got, exp)
		}
	}
	want(Query{Service: "web"}, "/old", "/new", "/stg", "stdout line")
	want(Query{Service: "web", Env: "prod"}, "/old", "/new", "stdout line")
	want(Query{Service: "web", Since: time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)}, "/new", "/stg", "stdout line")
	want(Query{Service: "web", Grep: regexp.MustCompile(`"path":"/(old|stg)"`)}, "/old", "/stg")
	want(Query{Service: "web", Limit: 2}, "/stg", "stdout line")
	want(Query{Service: ServiceProxy}, "/old", "/api-old", "/new", "/stg")
	want(Query{Service: ServiceTug})
	got := f.search(t, Query{Service: "api"})
	if len(got) != 1 || got[0].Instance != "api-1" || got[0].Release != "r1" || got[0].Environment != "prod" ||
		!got[0].Time.Equal(time.Date(2026, 11, 1, 9, 0, 1, 0, time.UTC)) {
		t.Fatalf("attribution: %+v", got)
	}

	// Follow: lines appended to the segment and in a new one arrive.
	go func() { defer close(done); f.l.Run(ctx) }()
	srv := httptest.NewServer(logsRouter(t, f.l))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/logs?service=web&follow=1&env=prod", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	appendFile(t, seg2, acc("2026-11-01T12:00:00.000Z", "web", "prod", "/f1"), acc("2026-11-01T12:00:00.000Z", "api", "prod", "/no"))
	appendFile(t, filepath.Join(dir, "access-20261101T120000.000000000Z.log"), acc("2026-11-01T12:00:01.000Z", "web", "prod", "/f2"))
	sc := bufio.NewScanner(resp.Body)
	var followed []Line
	deadline := time.AfterFunc(20*time.Second, cancel)
	defer deadline.Stop()
	for len(followed) < 5 && sc.Scan() {
		var l Line
		json.Unmarshal(sc.Bytes(), &l)
		followed = append(followed, l)
	}
	if g := paths(followed); strings.Join(g, "|") != "/old|/new|stdout line|/f1|/f2" {
		t.Fatalf("search then follow: %q", g)
	}

	// Retention: a segment whose last write is past it goes; the newest
	// segment stays whatever its age.
	f.clock.Set(time.Date(2026, 11, 8, 10, 30, 0, 0, time.UTC))
	f.l.prune(context.Background())
	segs, _ := listSegments(dir)
	if len(segs) != 2 || segs[0].name != "access-20261101T110000.000000000Z.log" {
		t.Fatalf("after retention: %+v", segs)
	}
}

// logsRouter serves l's operations as the server does.
func logsRouter(t *testing.T, l *Logs) http.Handler {
	t.Helper()
	rt, err := endpoint.NewRouter(Ops(l), endpoint.Options{Codes: []endpoint.ErrorCode{{Err: ErrBadQuery, Code: endpoint.CodeBadRequest}}})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
