package runtime

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// fastPolicy restarts within milliseconds, so crash tests take little time.
var fastPolicy = RestartPolicy{
	BackoffMin:  10 * time.Millisecond,
	BackoffMax:  80 * time.Millisecond,
	ResetAfter:  time.Minute,
	CrashWindow: time.Minute,
	CrashLimit:  5,
}

// newTestProcess returns a process runtime on stateDir with fast
// tunables; at cleanup every instance is stopped, then it is closed.
func newTestProcess(t *testing.T, stateDir string, mod func(*ProcessOptions)) *Process {
	t.Helper()
	opts := ProcessOptions{StateDir: stateDir, Restart: fastPolicy, PollInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	p, err := NewProcess(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := p.List(ctx)
		for _, in := range list {
			if err := p.Stop(ctx, in.ID, 0); err != nil && !errors.Is(err, ErrNotFound) {
				t.Errorf("cleanup: stop %s: %v", in.ID, err)
			}
		}
		p.Close()
	})
	return p
}

// appSpec runs the test app, listening on loopback only.
func appSpec(t *testing.T, id string) Spec {
	return Spec{
		ID: id, Service: "web", Environment: "test", Release: "r1",
		Dir:     t.TempDir(),
		Command: `exec "$APP"`,
		Env:     map[string]string{"APP": appPath, "HOST": "127.0.0.1"},
	}
}

func findInstance(t *testing.T, r Runtime, id string) Instance {
	t.Helper()
	list, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.ID == id {
			return in
		}
	}
	return Instance{}
}

func TestProcessServesOnPortInOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p := newTestProcess(t, t.TempDir(), nil)
	ctx := context.Background()

	in, err := p.Start(ctx, appSpec(t, "web-test-r1-1"))
	if err != nil {
		t.Fatal(err)
	}
	if in.State != Running || in.PID <= 0 || in.Service != "web" || in.Release != "r1" {
		t.Fatalf("instance = %+v", in)
	}
	host, port, _ := net.SplitHostPort(in.Addr)
	if host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("addr = %q, want 127.0.0.1 and a chosen port", in.Addr)
	}
	var body string
	testkit.Eventually(t, 0, "the app to serve on "+in.Addr, func() bool { body, err = get(in.Addr, "/env?k=PORT"); return err == nil })
	if body != port {
		t.Fatalf("$PORT = %q, want %s", body, port)
	}
	if pid, _ := get(in.Addr, "/pid"); pid != strconv.Itoa(in.PID) {
		t.Fatalf("served by pid %s, instance says %d", pid, in.PID)
	}
	st, err := readProcStat(in.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.pgrp != in.PID || st.pgrp == syscall.Getpgrp() {
		t.Fatalf("process group = %d, want its own (%d), not the server's (%d)", st.pgrp, in.PID, syscall.Getpgrp())
	}

	// A fixed Spec.Port is used as given.
	fixed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	spec := appSpec(t, "web-test-r1-2")
	spec.Port = fixed
	in2, err := p.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "127.0.0.1:" + strconv.Itoa(fixed); in2.Addr != want {
		t.Fatalf("addr = %s, want %s", in2.Addr, want)
	}
	testkit.Eventually(t, 0, "the app on the fixed port", func() bool { body, err = get(in2.Addr, "/env?k=PORT"); return err == nil })
	if body != strconv.Itoa(fixed) {
		t.Fatalf("$PORT = %q, want %d", body, fixed)
	}
}

func TestProcessEnvAndSecretsNeverOnDisk(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p := newTestProcess(t, state, nil)
	spec := appSpec(t, "api-1")
	spec.Env["GREETING"] = "hello there"
	const plain = "s3cret-Pa55-7f1e"
	spec.Secrets = map[string]secret.Value{"DB_PASSWORD": secret.New(plain)}
	in, err := p.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	testkit.Eventually(t, 0, "the app to serve", func() bool { body, err = get(in.Addr, "/env?k=GREETING"); return err == nil })
	if body != "hello there" {
		t.Fatalf("GREETING = %q", body)
	}
	if body, _ = get(in.Addr, "/env?k=DB_PASSWORD"); body != plain {
		t.Fatalf("DB_PASSWORD = %q, want the secret's value", body)
	}
	// Force a state write after start too (a restart), then search
	// every file under the state dir.
	get(in.Addr, "/exit")
	testkit.Eventually(t, 0, "the restart", func() bool { return findInstance(t, p, "api-1").Restarts == 1 })
	sawName := false
	filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), plain) {
			t.Errorf("%s holds the secret's value", path)
		}
		if filepath.Base(path) == stateName && strings.Contains(string(b), "DB_PASSWORD") {
			sawName = true
		}
		return nil
	})
	if !sawName {
		t.Error("state file does not record the secret's name")
	}
}

func TestProcessLogsCapturedAndRotated(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p := newTestProcess(t, state, func(o *ProcessOptions) { o.LogMaxBytes = 2000; o.LogKeep = 2 })
	ctx := context.Background()
	in, err := p.Start(ctx, appSpec(t, "log-1"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the app to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	lines, err := p.Logs(ctx, in.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "httpapp listening") || !strings.Contains(all, "hello on stderr") {
		t.Fatalf("logs lack stdout or stderr:\n%s", all)
	}

	logPath := filepath.Join(state, "instances", in.ID, logName)
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	// Each batch is ~3.4 KB, past the 2000-byte limit: three batches
	// make three rotations, of which two generations are kept.
	msg := func(batch int) string { return "batch" + strconv.Itoa(batch) + "-padding-padding-line" }
	for batch := range 3 {
		if _, err := get(in.Addr, "/say?n=100&msg="+msg(batch)); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 0, "rotation of batch "+strconv.Itoa(batch), func() bool {
			b, err := os.ReadFile(logPath + ".1")
			return err == nil && strings.Contains(string(b), msg(batch)+" 99")
		})
	}
	if !exists(logPath+".2") || exists(logPath+".3") {
		t.Fatalf("generations: .2 exists=%v .3 exists=%v, want 2 kept", exists(logPath+".2"), exists(logPath+".3"))
	}
	// Lines written after the rotation the loop waited for (a batch's
	// tail under load) are rotated at the next check: the live log ends
	// up under the limit.
	testkit.Eventually(t, 0, "the live log under its limit", func() bool {
		fi, err := os.Stat(logPath)
		return err == nil && fi.Size() <= 2000
	})
	// The app goes on writing into the truncated file.
	get(in.Addr, "/say?n=3&msg=after")
	testkit.Eventually(t, 0, "output after rotation", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "after 2")
	})
	// Logs reads across generations, oldest first.
	lines, err = p.Logs(ctx, in.ID, 103)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 103 || lines[0] != msg(2)+" 0" || lines[99] != msg(2)+" 99" || lines[102] != "after 2" {
		t.Fatalf("last 103 lines: first %q, 100th %q, last %q (len %d)", lines[0], lines[99], lines[len(lines)-1], len(lines))
	}
}

func TestProcessRestartsAfterCrash(t *testing.T) {
	t.Parallel()
	p := newTestProcess(t, t.TempDir(), nil)
	in, err := p.Start(context.Background(), appSpec(t, "crash-1"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the app to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	get(in.Addr, "/exit")
	var now Instance
	testkit.Eventually(t, 0, "a restarted app", func() bool {
		now = findInstance(t, p, in.ID)
		if now.Restarts != 1 || now.State != Running {
			return false
		}
		pid, err := get(in.Addr, "/pid")
		return err == nil && pid == strconv.Itoa(now.PID)
	})
	if now.PID == in.PID || now.LastExit != "exit status 3" || now.Addr != in.Addr || now.CrashLoop {
		t.Fatalf("after restart: %+v (before: pid %d)", now, in.PID)
	}
}

func TestProcessBackoffDelaysRestart(t *testing.T) {
	t.Parallel()
	logger, logs := testkit.Logger()
	p := newTestProcess(t, t.TempDir(), func(o *ProcessOptions) {
		o.Restart.BackoffMin, o.Restart.BackoffMax = time.Hour, time.Hour
		o.Logger = logger
	})
	spec := appSpec(t, "slow-1")
	spec.Command = "exit 4"
	if _, err := p.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	// Logged as the supervision loop goes to sleep for the backoff.
	testkit.Eventually(t, 0, "the exit and its backoff", func() bool {
		return strings.Contains(logs.String(), `msg="instance exited" instance=slow-1 exit="exit status 4" restart_in=1h0m0s`)
	})
	in := findInstance(t, p, "slow-1")
	if in.Restarts != 0 || in.State != Restarting || in.LastExit != "exit status 4" {
		t.Fatalf("restarted before the backoff elapsed: %+v", in)
	}
	// Stop of an instance that already exited succeeds.
	if err := p.Stop(context.Background(), "slow-1", time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestProcessCrashLoopFlagged(t *testing.T) {
	t.Parallel()
	logger, logs := testkit.Logger()
	p := newTestProcess(t, t.TempDir(), func(o *ProcessOptions) { o.Logger = logger })
	spec := appSpec(t, "loop-1")
	spec.Command = "echo crash-run; exit 3"
	if _, err := p.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	var in Instance
	testkit.Eventually(t, 0, "the crash loop flag", func() bool { in = findInstance(t, p, "loop-1"); return in.CrashLoop })
	if in.Restarts < 4 || in.LastExit != "exit status 3" {
		t.Fatalf("crash loop instance: %+v", in)
	}
	lines, _ := p.Logs(context.Background(), "loop-1", 100)
	if n := strings.Count(strings.Join(lines, "\n"), "crash-run"); n < 5 {
		t.Fatalf("%d runs logged, want at least 5", n)
	}
	// The flag is published just before the log line is written.
	testkit.Eventually(t, 0, "the crash-loop log line", func() bool {
		return strings.Contains(logs.String(), `msg="instance is crash-looping" instance=loop-1`)
	})
}

func TestProcessStopKillsWholeGroup(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p := newTestProcess(t, state, nil)
	spec := appSpec(t, "group-1")
	// A grandchild that ignores SIGTERM: only the group's SIGKILL ends it.
	spec.Command = `(trap '' TERM; exec sleep 300) & echo $! > grandchild.pid; exec "$APP"`
	in, err := p.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var gc int
	testkit.Eventually(t, 0, "the grandchild's pid", func() bool {
		b, err := os.ReadFile(filepath.Join(spec.Dir, "grandchild.pid"))
		gc, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && gc > 0
	})
	gcStat, err := readProcStat(gc)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the app to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	start, _ := readProcStat(in.PID)

	if err := p.Stop(context.Background(), in.ID, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if processAlive(in.PID, start.start) {
		t.Error("the app survived Stop")
	}
	if processAlive(gc, gcStat.start) {
		t.Error("the grandchild survived Stop")
	}
	if _, err := os.Stat(filepath.Join(state, "instances", in.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("instance directory left after Stop: %v", err)
	}
	if list, _ := p.List(context.Background()); len(list) != 0 {
		t.Errorf("List after Stop = %+v", list)
	}
	if err := p.Stop(context.Background(), in.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Stop = %v, want ErrNotFound", err)
	}
}

func TestProcessAdoptedAcrossRuntimes(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	first, err := NewProcess(ProcessOptions{StateDir: state, Restart: fastPolicy, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec := appSpec(t, "adopt-1")
	spec.Secrets = map[string]secret.Value{"TOKEN": secret.New("tok-123")}
	in, err := first.Start(context.Background(), spec)
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the app to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// Close leaves the instance running.
	if pid, err := get(in.Addr, "/pid"); err != nil || pid != strconv.Itoa(in.PID) {
		t.Fatalf("after Close: pid %q, %v", pid, err)
	}

	second := newTestProcess(t, state, nil)
	adopted := findInstance(t, second, "adopt-1")
	if adopted.PID != in.PID || adopted.State != Running || adopted.Addr != in.Addr || adopted.Service != "web" {
		t.Fatalf("adopted = %+v, started = %+v", adopted, in)
	}
	if err := second.SetSecrets("adopt-1", map[string]secret.Value{"TOKEN": secret.New("tok-123")}); err != nil {
		t.Fatal(err)
	}
	// Kill it behind the runtime's back: the second runtime restarts it.
	if err := syscall.Kill(-in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var now Instance
	testkit.Eventually(t, 0, "the adopted instance restarted", func() bool {
		now = findInstance(t, second, "adopt-1")
		if now.State != Running || now.PID == in.PID {
			return false
		}
		pid, err := get(in.Addr, "/pid")
		return err == nil && pid == strconv.Itoa(now.PID)
	})
	if now.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1", now.Restarts)
	}
	if tok, _ := get(in.Addr, "/env?k=TOKEN"); tok != "tok-123" {
		t.Fatalf("restarted without the secret handed back by SetSecrets: TOKEN=%q", tok)
	}
}

// TestProcessAdoptionCarriesCrashHistory: a runtime that adopts an
// instance counts its crashes on from where the last one stopped, so a
// server restart does not hide a crash loop.
func TestProcessAdoptionCarriesCrashHistory(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	slow := func(o *ProcessOptions) {
		o.Restart = RestartPolicy{BackoffMin: time.Hour, BackoffMax: time.Hour, CrashWindow: time.Hour, CrashLimit: 2}
	}
	opts := ProcessOptions{StateDir: state, PollInterval: 20 * time.Millisecond}
	slow(&opts)
	first, err := NewProcess(opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := appSpec(t, "history-1")
	spec.Command = "exit 5"
	if _, err := first.Start(context.Background(), spec); err != nil {
		first.Close()
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the first crash", func() bool { return findInstance(t, first, "history-1").LastExit == "exit status 5" })
	first.Close()

	// The second runtime sees the second crash (the process is gone when
	// it adopts it): with the first, that is CrashLimit crashes.
	second := newTestProcess(t, state, slow)
	var in Instance
	testkit.Eventually(t, 0, "the crash loop across runtimes", func() bool {
		in = findInstance(t, second, "history-1")
		return in.LastExit == "exited while no server supervised it"
	})
	if !in.CrashLoop {
		t.Fatalf("adopted instance after its second crash: %+v; want CrashLoop", in)
	}
}

func TestProcessBadInputAndUnknownIDs(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	logger, logs := testkit.Logger()
	p := newTestProcess(t, state, func(o *ProcessOptions) { o.Logger = logger })
	ctx := context.Background()

	// A corrupt state file is skipped by List, with a warning naming it.
	bad := filepath.Join(state, "instances", "bad-1")
	os.MkdirAll(bad, 0o700)
	os.WriteFile(filepath.Join(bad, stateName), []byte("{not json"), 0o600)
	if list, err := p.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List with a corrupt state file = %+v, %v", list, err)
	}
	if !strings.Contains(logs.String(), "bad-1/state.json") {
		t.Fatalf("no warning naming the corrupt file:\n%s", logs)
	}
	os.RemoveAll(bad)

	if err := p.Stop(ctx, "nope", time.Second); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop unknown = %v, want ErrNotFound", err)
	}
	if err := p.Stop(ctx, "../etc", time.Second); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop ../etc = %v, want ErrNotFound", err)
	}
	if _, err := p.Logs(ctx, "nope", 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("Logs unknown = %v, want ErrNotFound", err)
	}
	if err := p.SetSecrets("nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetSecrets unknown = %v, want ErrNotFound", err)
	}

	good := appSpec(t, "ok-1")
	for _, tc := range []struct {
		name, want string
		mod        func(*Spec)
	}{
		{"empty id", "spec.id", func(s *Spec) { s.ID = "" }},
		{"slash in id", "spec.id", func(s *Spec) { s.ID = "a/b" }},
		{"no command", "spec.command", func(s *Spec) { s.Command = " " }},
		{"relative dir", "spec.dir", func(s *Spec) { s.Dir = "rel" }},
		{"missing dir", "spec.dir", func(s *Spec) { s.Dir = "/nonexistent/tug" }},
		{"bad port", "spec.port", func(s *Spec) { s.Port = 70000 }},
		{"bad env", "spec.env", func(s *Spec) { s.Env = map[string]string{"A=B": "x"} }},
	} {
		s := good
		tc.mod(&s)
		if _, err := p.Start(ctx, s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "instances")); len(ents) != 0 {
		t.Errorf("bad specs left %d instance directories", len(ents))
	}

	if _, err := p.Start(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Start(ctx, good); !errors.Is(err, ErrExists) {
		t.Errorf("second Start of %s = %v, want ErrExists", good.ID, err)
	}
}
