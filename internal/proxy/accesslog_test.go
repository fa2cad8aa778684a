package proxy

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
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
	path := filepath.Join(dir, DataDirName, AccessLogName)
	var lines []map[string]any
	// Flushed at least every second without the proxy stopping.
	testkit.Eventually(t, 0, "two access log lines", func() bool {
		f, err := os.Open(path)
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

func TestAccessLogRotatesAndEscapes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := openAccessLog(filepath.Join(dir, "access.log"), 400, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Rotation happens between buffer writes (here: one flush per line).
	for i := 0; i < 20; i++ {
		l.write(&accessEntry{time: time.Unix(0, 0), path: "/a\x01\n\xff", method: "GET", status: 200})
		l.flush()
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"access.log", "access.log.1", "access.log.2"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
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
	if _, err := os.Stat(filepath.Join(dir, "access.log.3")); err == nil {
		t.Fatal("kept more old files than asked")
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
	if _, err := os.Stat(filepath.Join(dir, DataDirName, AccessLogName)); err == nil {
		t.Fatal("access log written with NoAccessLog")
	}
}
