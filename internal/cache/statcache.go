package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// statCacheName is the stat cache's file in the cache directory.
const statCacheName = "stat-cache"

// statCacheHeader starts the file; a different header (an older or newer
// format) makes the whole file ignored.
const statCacheHeader = "tug-stat-cache 2\n"

// racyMargin is, where the file clock cannot be read (a file on another
// device than the state directory), how much older than the moment it was
// stat'ed a file's mtime and ctime must be for its cached hash to be
// trusted: its timestamps may come from another machine's clock, and a
// write that lands right after the stat can carry the very timestamps the
// stat saw. Such "racily clean" entries are hashed again until the file
// is old enough (Git's racy-git rule).
const racyMargin = 2 * time.Second

// maxStatEntries bounds the file; entries this process did not use go
// first.
const maxStatEntries = 200_000

// fileStat is what must be unchanged for a cached hash to stand: any
// write to a file changes its ctime, even if mtime is put back.
type fileStat struct {
	Size    int64
	MtimeNS int64
	CtimeNS int64
	Ino     uint64
	Dev     uint64
	Mode    uint32
}

// statEntry is a file's hash and the stat it was taken with.
type statEntry struct {
	st   fileStat
	hash string
	// before is the instant (by the file's clock) the stat's mtime and
	// ctime must be strictly before for the hash to stand: a file
	// modified at or after it may have changed unseen.
	before int64
	used   bool
}

// trusted reports whether the entry's hash may stand for a file that
// stats as st: same stat, and not racily clean.
func (e *statEntry) trusted(st fileStat) bool {
	return e.st == st && st.MtimeNS < e.before && st.CtimeNS < e.before
}

// statCache remembers the SHA-256 of workspace files by their stat, so an
// unchanged rerun stats its inputs instead of reading them. It is loaded
// on first use and written back (temp file and rename; a checksum line
// rejects a file an OS crash left torn) by flush. Losing it only costs
// hashing again. Safe for concurrent use.
type statCache struct {
	path string

	once    sync.Once
	mu      sync.Mutex
	entries map[string]*statEntry
	dirty   bool
}

func newStatCache(path string) *statCache {
	return &statCache{path: path}
}

func (sc *statCache) load() {
	sc.once.Do(func() {
		sc.entries = map[string]*statEntry{}
		data, err := os.ReadFile(sc.path)
		if err != nil {
			return
		}
		if m, ok := parseStatCache(data); ok {
			sc.entries = m
		}
	})
}

// lookup returns the trusted hash of the file at abs, which stats as st.
func (sc *statCache) lookup(abs string, st fileStat) (string, bool) {
	sc.load()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e := sc.entries[abs]
	if e == nil || !e.trusted(st) {
		return "", false
	}
	e.used = true
	return e.hash, true
}

// record keeps the hash of the file at abs, which stats as st; before is
// the bound a reading of the file clock taken before the stat gave.
func (sc *statCache) record(abs string, st fileStat, before int64, hash string) {
	sc.load()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if e := sc.entries[abs]; e != nil && e.st == st && e.hash == hash && e.before >= before {
		e.used = true
		return
	}
	sc.entries[abs] = &statEntry{st: st, hash: hash, before: before, used: true}
	sc.dirty = true
}

// flush writes the cache back if anything was recorded.
func (sc *statCache) flush() error {
	sc.mu.Lock()
	if !sc.dirty {
		sc.mu.Unlock()
		return nil
	}
	data := sc.encode()
	sc.dirty = false
	sc.mu.Unlock()
	// No fsync: a torn or lost file is detected (checksum) and only costs
	// hashing again.
	return writeFile(sc.path, 0o644, kit.SyncNone, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// encode is the file: a header, one line per entry
// "hash size mtime ctime ino dev mode at path", and "end <sha256 of all
// before>". Called with mu held.
func (sc *statCache) encode() []byte {
	// Over the bound, entries this process did not use go first.
	drop := max(0, len(sc.entries)-maxStatEntries)
	unused := 0
	for _, e := range sc.entries {
		if !e.used {
			unused++
		}
	}
	dropUnused := min(drop, unused)
	dropUsed := drop - dropUnused
	var b bytes.Buffer
	b.Grow(len(sc.entries) * 160)
	b.WriteString(statCacheHeader)
	for p, e := range sc.entries {
		if bytes.ContainsAny([]byte(p), "\n\r") {
			continue
		}
		if !e.used && dropUnused > 0 {
			dropUnused--
			continue
		}
		if e.used && dropUsed > 0 {
			dropUsed--
			continue
		}
		b.WriteString(e.hash)
		for _, n := range []int64{e.st.Size, e.st.MtimeNS, e.st.CtimeNS} {
			b.WriteByte(' ')
			b.WriteString(strconv.FormatInt(n, 10))
		}
		for _, n := range []uint64{e.st.Ino, e.st.Dev, uint64(e.st.Mode)} {
			b.WriteByte(' ')
			b.WriteString(strconv.FormatUint(n, 10))
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(e.before, 10))
		b.WriteByte(' ')
		b.WriteString(p)
		b.WriteByte('\n')
	}
	sum := sha256.Sum256(b.Bytes())
	b.WriteString("end ")
	b.WriteString(hex.EncodeToString(sum[:]))
	b.WriteByte('\n')
	return b.Bytes()
}

// parseStatCache reads encode's output; ok is false for anything else.
func parseStatCache(data []byte) (map[string]*statEntry, bool) {
	if !bytes.HasPrefix(data, []byte(statCacheHeader)) {
		return nil, false
	}
	i := bytes.LastIndex(data, []byte("end "))
	if i < 0 || i+4+64+1 != len(data) || data[len(data)-1] != '\n' {
		return nil, false
	}
	sum := sha256.Sum256(data[:i])
	if hex.EncodeToString(sum[:]) != string(data[i+4:len(data)-1]) {
		return nil, false
	}
	out := map[string]*statEntry{}
	for line := range bytes.Lines(data[len(statCacheHeader):i]) {
		e, p, err := parseStatLine(line[:len(line)-1])
		if err != nil {
			return nil, false
		}
		out[p] = e
	}
	return out, true
}

var errStatLine = errors.New("bad stat cache line")

func parseStatLine(line []byte) (*statEntry, string, error) {
	var f [8][]byte
	rest := line
	for k := range f {
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			return nil, "", errStatLine
		}
		f[k], rest = rest[:j], rest[j+1:]
	}
	if len(f[0]) != 64 || len(rest) == 0 {
		return nil, "", errStatLine
	}
	var n [7]int64
	for k := 1; k < 8; k++ {
		v, err := strconv.ParseInt(string(f[k]), 10, 64)
		if err != nil {
			return nil, "", errStatLine
		}
		n[k-1] = v
	}
	e := &statEntry{
		hash:   string(f[0]),
		st:     fileStat{Size: n[0], MtimeNS: n[1], CtimeNS: n[2], Ino: uint64(n[3]), Dev: uint64(n[4]), Mode: uint32(n[5])},
		before: n[6],
	}
	return e, string(rest), nil
}

// hashStatted returns the SHA-256 of the regular file at abs, from the
// stat cache when its stat is unchanged and old enough, else by reading
// it (and recording the result).
func (c *Cache) hashStatted(abs string) (string, error) {
	tb := c.fileClock.now()
	fi, err := os.Lstat(abs)
	if err != nil {
		return "", err
	}
	st, ok := statOf(fi)
	if !ok || !fi.Mode().IsRegular() {
		h, _, err := c.hash.file(abs)
		return h, err
	}
	if h, ok := c.stat.lookup(abs, st); ok {
		return h, nil
	}
	h, _, err := c.hash.file(abs)
	if err != nil {
		return "", err
	}
	c.stat.record(abs, st, tb.limit(st.Dev), h)
	return h, nil
}
