package proxy

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

func TestAccessLogJSONLines(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	dir := stateDir(t)
	p := startProxy(t, dir, nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	p.do(t, http.DefaultClient, "GET", "app.test", "/x?q=1", nil, http.Header{"X-Request-Id": {"rid-\"1\""}})
	p.do(t, http.DefaultClient, "GET", "nowhere.test", "/", nil, nil)
	var lines []map[string]any
	// Flushed at least every second without the proxy stopping.
	testkit.Eventually(t, 0, "two access log lines", func() bool {
		segs, _ := segments(filepath.Join(dir, DataDirName, AccessDirName))
		if len(segs) != 1 {
			return false
		}
		f, err := os.Open(segs[0])
		if err != nil {
			return false
		}
		defer f.Close()
		lines = nil
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("not JSON: %q: %v", sc.Text(), err)
			}
			lines = append(lines, m)
		}
		return len(lines) == 2
	})
	l := lines[0]
	if l["request_id"] != `rid-"1"` || l["status"] != 200.0 || l["path"] != "/x" || l["instance"] != "r1-a" || l["service"] != "web" {
		t.Fatalf("line %v", l)
	}
	if lines[1]["status"] != 404.0 {
		t.Fatalf("no-route line %v", lines[1])
	}
}

// TestAccessLogSegments: a new segment starts past the size limit and at
// every hour; names sort in time order; keep drops the oldest.
func TestAccessLogSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := testkit.NewClock(time.Date(2026, 1, 2, 10, 59, 0, 0, time.UTC))
	l, err := openAccessLog(dir, 400, 4, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	// Rotation happens between buffer writes (here: one flush per line).
	for i := 0; i < 6; i++ {
		clock.Advance(time.Millisecond)
		l.write(&accessEntry{time: time.Unix(0, 0), path: "/a\x01\n\xff", method: "GET", status: 200})
		l.flush()
	}
	clock.Set(time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC)) // the next hour
	l.write(&accessEntry{time: time.Unix(0, 0), path: "/next-hour", method: "GET", status: 200})
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	if len(segs) != 4 {
		t.Fatalf("segments %q, want the newest 4", segs)
	}
	last := segs[len(segs)-1]
	if filepath.Base(last) != "access-20260102T110000.000000000Z.log" {
		t.Fatalf("newest segment %s, want the one opened at 11:00", last)
	}
	if b, _ := os.ReadFile(last); !strings.Contains(string(b), "/next-hour") || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("the hour's segment holds %q", b)
	}
	for _, n := range segs[:3] {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(b) > 400 {
			t.Fatalf("%s is %d bytes, over the limit", n, len(b))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil || m["path"] != "/a\x01\n\ufffd" {
				t.Fatalf("%s: %q: %v %v", n, line, m["path"], err)
			}
		}
	}
}

func TestAccessLogOff(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	dir := stateDir(t)
	p := startProxy(t, dir, func(o *Options) { o.NoAccessLog = true })
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
	p.stop()
	if segs, _ := segments(filepath.Join(dir, DataDirName, AccessDirName)); len(segs) > 0 {
		t.Fatal("access log written with NoAccessLog")
	}
}

// The hand-written timestamp and duration match the formats they replace.
func TestAccessTimeFormats(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Date(2026, 12, 4, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 1, 2, 3, 4_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 500_000, time.UTC),
	}
	for _, tm := range times {
		want := tm.AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")
		if got := appendTimestamp(nil, tm); string(got) != string(want) {
			t.Errorf("appendTimestamp(%v) = %s, want %s", tm, got, want)
		}
		// A line's timestamp: its second as cached, then its milliseconds.
		var l accessLog
		for _, at := range []time.Time{tm, tm.Add(-time.Millisecond), tm} {
			want := `{"ts":"` + at.Format("2006-01-02T15:04:05.000Z07:00") + `"`
			line := (&accessEntry{time: at}).appendJSON(nil, l.second(at))
			if !strings.HasPrefix(string(line), want) {
				t.Errorf("line at %v: %s, want it to begin %s", at, line, want)
			}
		}
	}
	for _, d := range []time.Duration{0, time.Microsecond, 999 * time.Microsecond, time.Millisecond,
		1234567 * time.Microsecond, 3*time.Hour + 7*time.Nanosecond, -1500 * time.Microsecond, 48 * time.Hour} {
		want := strconv.AppendFloat(nil, float64(d.Microseconds())/1000, 'f', 3, 64)
		if got := appendMillis(nil, d); string(got) != string(want) {
			t.Errorf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
}
