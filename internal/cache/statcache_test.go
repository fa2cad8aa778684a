//go:build linux || darwin || freebsd || netbsd || dragonfly || openbsd

package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

// statFixture is a fixture whose file clock is the test clock (2030), so
// files written now are old enough for the stat cache to trust.
func statFixture(t *testing.T) *fixture {
	t.Helper()
	clk := testkit.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	f := newFixture(t, Options{Now: clk.Now, FileClock: clk.Now})
	f.clk = clk
	return f
}

// reopen closes (writing the stat cache) and opens a new Cache on the
// same state, as the next tug process would.
func (f *fixture) reopen(fileClock func() time.Time) {
	f.t.Helper()
	if err := f.c.Close(); err != nil {
		f.t.Fatal(err)
	}
	c, err := New(f.state, Options{Now: f.clk.Now, FileClock: fileClock})
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = c
}

func (f *fixture) fileHash(rel string) string {
	f.t.Helper()
	j := job("build", &config.Job{Inputs: []string{rel}})
	_, man, err := f.c.Key(context.Background(), f.req("r", j))
	if err != nil {
		f.t.Fatal(err)
	}
	return man.Files[rel]
}

func (f *fixture) abs(rel string) string {
	p, err := filepath.Abs(filepath.Join(f.ws, filepath.FromSlash(rel)))
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// forgeStatEntry rewrites the stat cache so that rel, as it stats now,
// maps to hash, trusted if it changed before at.
func (f *fixture) forgeStatEntry(rel, hash string, at time.Time) {
	f.t.Helper()
	if err := f.c.Close(); err != nil { // what it learned must not overwrite the forgery
		f.t.Fatal(err)
	}
	p, st := f.statOf(rel)
	sc := newStatCache(filepath.Join(f.state, "cache", statCacheName))
	sc.load()
	sc.record(p, st, at.UnixNano(), hash)
	if err := sc.flush(); err != nil {
		f.t.Fatal(err)
	}
}

// statOf is rel's absolute path and stat, skipping the test where the
// platform has no stat cache.
func (f *fixture) statOf(rel string) (string, fileStat) {
	f.t.Helper()
	p := f.abs(rel)
	fi, err := os.Lstat(p)
	if err != nil {
		f.t.Fatal(err)
	}
	st, ok := statOf(fi)
	if !ok {
		f.t.Skip("no stat cache on this platform")
	}
	return p, st
}

var bogus = strings.Repeat("ab", 32)

func TestStatCacheAnswersForUnchangedFiles(t *testing.T) {
	t.Parallel()
	f := statFixture(t)
	f.write("src/a.txt", "one", 0o644)
	if got := f.fileHash("src/a.txt"); got != sha("one") {
		t.Fatalf("hash %s, want %s", got, sha("one"))
	}
	f.reopen(f.clk.Now)
	if _, err := os.Stat(filepath.Join(f.state, "cache", statCacheName)); err != nil {
		t.Fatalf("stat cache not written: %v", err)
	}
	// Proof the next process believes the stat cache rather than reading:
	// a forged hash for the unchanged file is what Key reports.
	f.forgeStatEntry("src/a.txt", bogus, f.clk.Now())
	f.reopen(f.clk.Now)
	if got := f.fileHash("src/a.txt"); got != bogus {
		t.Fatalf("hash %s, want the stat cache's %s", got, bogus)
	}
}

// An edit that keeps the size and puts the mtime back still changes the
// ctime: the stat cache must see it.
func TestStatCacheSeesEditWithRestoredMtime(t *testing.T) {
	t.Parallel()
	f := statFixture(t)
	f.write("src/a.txt", "one", 0o644)
	p := f.abs("src/a.txt")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	fi0, _ := os.Lstat(p)
	st0, _ := statOf(fi0)
	ctime0 := ctimeNS(fi0.Sys().(*syscall.Stat_t))
	j := job("build", &config.Job{Inputs: []string{"src/a.txt"}, Run: "true"})
	first := f.run(f.req("r1", j), "", nil)
	f.reopen(f.clk.Now)
	if res := f.lookup(f.req("r2", j)); !res.Info.Hit {
		t.Fatalf("unchanged rerun missed: %+v", res.Info)
	}

	// Same size, same mtime, different content. The ctime comes from a
	// coarse clock: rewrite until it moved on (bounded).
	moved := testkit.Poll(2*time.Second, func() bool {
		if err := os.WriteFile(p, []byte("two"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Lstat(p)
		st, _ := statOf(fi)
		if st.Size != st0.Size || st.MtimeNS != st0.MtimeNS || st.Ino != st0.Ino {
			t.Fatalf("test setup: stat %+v, want size, mtime and inode of %+v", st, st0)
		}
		return ctimeNS(fi.Sys().(*syscall.Stat_t)) != ctime0
	})
	if !moved {
		t.Skip("ctime did not move in 2 s")
	}
	f.reopen(f.clk.Now)
	res := f.lookup(f.req("r3", j))
	if res.Info.Hit || res.Info.Key == first.Info.Key {
		t.Fatalf("edited input not seen: %+v", res.Info)
	}
	if res.Info.Miss != "input src/a.txt changed" {
		t.Fatalf("miss %q, want input src/a.txt changed", res.Info.Miss)
	}
}

// An entry whose file was modified at or after the reading of the file
// clock it was recorded with may hide a write in the same clock tick: it
// is hashed again.
func TestStatCacheRehashesRacyEntries(t *testing.T) {
	t.Parallel()
	f := statFixture(t)
	f.write("src/a.txt", "one", 0o644)
	fi, err := os.Lstat(f.abs("src/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := statOf(fi)
	if !ok {
		t.Skip("no stat cache on this platform")
	}
	ctime := time.Unix(0, st.CtimeNS)

	// Racy: the file changed in the very tick of the reading.
	f.forgeStatEntry("src/a.txt", bogus, ctime)
	f.reopen(f.clk.Now)
	if got := f.fileHash("src/a.txt"); got != sha("one") {
		t.Fatalf("racy entry trusted: hash %s, want %s", got, sha("one"))
	}

	// The same entry with a bound just past the change is trusted (which
	// shows the check above is what rejected it).
	f.forgeStatEntry("src/a.txt", bogus, ctime.Add(time.Nanosecond))
	f.reopen(f.clk.Now)
	if got := f.fileHash("src/a.txt"); got != bogus {
		t.Fatalf("old entry not trusted: hash %s", got)
	}
}

// With a wall clock (a file on another device than the probe), a file
// must be racyMargin old when stat'ed.
func TestStatCacheWallClockKeepsMargin(t *testing.T) {
	t.Parallel()
	f := statFixture(t)
	f.write("src/a.txt", "one", 0o644)
	_, st := f.statOf("src/a.txt")
	for _, c := range []struct {
		age  time.Duration
		want bool
	}{{0, false}, {racyMargin, false}, {racyMargin + time.Millisecond, true}} {
		at := time.Unix(0, max(st.MtimeNS, st.CtimeNS)).Add(c.age)
		fc := newFileClock("", func() time.Time { return at })
		e := statEntry{st: st, before: fc.now().limit(st.Dev)}
		if got := e.trusted(st); got != c.want {
			t.Errorf("stat'ed %v after the change: trusted %v, want %v", c.age, got, c.want)
		}
	}
}

// A file written after the file clock was read is not trusted next time.
func TestStatCacheFreshFilesAreRehashed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{}) // real file clock
	f.c.fileClock.now()           // a reading the next stats reuse
	f.write("src/a.txt", "one", 0o644)
	if got := f.fileHash("src/a.txt"); got != sha("one") {
		t.Fatal(got)
	}
	p, st := f.statOf("src/a.txt")
	if _, ok := f.c.stat.lookup(p, st); ok {
		t.Fatal("a file written after the clock reading is trusted")
	}
}

// A file written before the file clock moved on is trusted by the next
// process at once: no wall clock margin to wait out on the same device.
func TestStatCacheTrustsFilesOlderThanTheFileClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{}) // real file clock
	f.write("src/a.txt", "one", 0o644)
	p, st := f.statOf("src/a.txt")
	// Wait (bounded) for the coarse file clock to pass the write.
	if !testkit.Poll(2*time.Second, func() bool {
		r := f.c.fileClock.probe()
		return r.ok && r.ns > max(st.MtimeNS, st.CtimeNS)
	}) {
		t.Skip("file clock did not move in 2 s")
	}
	// Forget the reading the write was stat'ed under, so the next lookup
	// reads the clock afresh.
	f.c.fileClock.mu.Lock()
	f.c.fileClock.taken = time.Time{}
	f.c.fileClock.mu.Unlock()
	if got := f.fileHash("src/a.txt"); got != sha("one") {
		t.Fatal(got)
	}
	f.reopen(nil)
	if _, ok := f.c.stat.lookup(p, st); !ok {
		t.Fatal("a file older than the file clock reading is not trusted")
	}
	// Proof the hash came from the stat cache: forge it.
	f.forgeStatEntry("src/a.txt", bogus, time.Unix(0, max(st.MtimeNS, st.CtimeNS)+1))
	f.reopen(nil)
	if got := f.fileHash("src/a.txt"); got != bogus {
		t.Fatalf("hash %s, want the stat cache's %s", got, bogus)
	}
}

func TestStatCacheIgnoresDamagedFile(t *testing.T) {
	t.Parallel()
	f := statFixture(t)
	f.write("src/a.txt", "one", 0o644)
	f.fileHash("src/a.txt")
	f.forgeStatEntry("src/a.txt", bogus, f.clk.Now())
	p := filepath.Join(f.state, "cache", statCacheName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, damaged := range map[string][]byte{
		"torn":      data[:len(data)/2],
		"empty":     nil,
		"bit flip":  append([]byte(nil), data[:len(data)-80]...),
		"no header": []byte(strings.Replace(string(data), statCacheHeader, "", 1)),
	} {
		if name == "bit flip" {
			damaged = append(damaged, data[len(data)-80:]...)
			damaged[len(statCacheHeader)+1] ^= 1
		}
		if err := f.c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		f.reopen(f.clk.Now)
		if got := f.fileHash("src/a.txt"); got != sha("one") {
			t.Fatalf("%s stat cache: hash %s, want %s", name, got, sha("one"))
		}
	}
}

func TestStatCacheRoundTrip(t *testing.T) {
	t.Parallel()
	sc := newStatCache(filepath.Join(t.TempDir(), statCacheName))
	sc.load()
	st := fileStat{Size: 3, MtimeNS: 1, CtimeNS: 2, Ino: 1 << 40, Dev: 7, Mode: 0o100644}
	sc.record("/w/a b.txt", st, 99, bogus)
	sc.record("/w/bad\nname", st, 99, bogus)
	if err := sc.flush(); err != nil {
		t.Fatal(err)
	}
	sc2 := newStatCache(sc.path)
	sc2.load()
	if len(sc2.entries) != 1 {
		t.Fatalf("entries %d, want 1 (a path with a newline is not kept)", len(sc2.entries))
	}
	e := sc2.entries["/w/a b.txt"]
	if e == nil || e.st != st || e.hash != bogus || e.before != 99 {
		t.Fatalf("entry %+v", e)
	}
}
