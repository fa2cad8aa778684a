package cache

import (
	"os"
	"sync"
	"time"
)

// fileClockName is the probe file in the cache directory.
const fileClockName = "clock"

// probeReuse is how long one reading of the file clock serves: an older
// reading is only more cautious, and each costs a write and a stat.
const probeReuse = 20 * time.Millisecond

// fileClock tells the stat cache from when on a file's stat can be
// trusted. It reads the clock file timestamps really come from by writing
// a probe file and reading back its mtime (Git compares with the index
// file's own mtime the same way): any write after the reading carries a
// timestamp at or after it, so a file stat'ed after the reading whose
// mtime and ctime are strictly before it cannot hide a later write. For a
// file on another device than the probe, whose timestamps may come from
// another machine's clock, it falls back to the wall clock less
// racyMargin. Safe for concurrent use.
type fileClock struct {
	probePath string
	wall      func() time.Time
	// probes is false when tests inject the wall clock: only it counts.
	probes bool

	mu    sync.Mutex
	taken time.Time // monotonic; zero before the first reading
	last  probeReading
}

// probeReading is one reading of the file clock.
type probeReading struct {
	ns  int64
	dev uint64
	ok  bool
}

func newFileClock(probePath string, wall func() time.Time) *fileClock {
	if wall != nil {
		return &fileClock{wall: wall}
	}
	return &fileClock{probePath: probePath, wall: time.Now, probes: true}
}

// trustBefore is a reading taken before files are stat'ed; limit gives,
// per device, the instant their mtime and ctime must be strictly before
// for a cached hash to stand.
type trustBefore struct {
	probe probeReading
	wall  int64
}

// now takes a reading to use for stats that follow it.
func (fc *fileClock) now() trustBefore {
	tb := trustBefore{wall: fc.wall().Add(-racyMargin).UnixNano()}
	if fc.probes {
		tb.probe = fc.read()
	}
	return tb
}

// limit is the bound for a file on device dev.
func (tb trustBefore) limit(dev uint64) int64 {
	if tb.probe.ok && tb.probe.dev == dev {
		return tb.probe.ns
	}
	return tb.wall
}

func (fc *fileClock) read() probeReading {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if !fc.taken.IsZero() && time.Since(fc.taken) < probeReuse {
		return fc.last
	}
	taken := time.Now()
	r := fc.probe()
	fc.taken, fc.last = taken, r
	return r
}

// probe writes the probe file and returns its timestamp; not ok when that
// fails (a read-only state directory), which leaves the wall clock rule.
func (fc *fileClock) probe() probeReading {
	f, err := os.OpenFile(fc.probePath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return probeReading{}
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return probeReading{}
	}
	fi, err := f.Stat()
	if err != nil {
		return probeReading{}
	}
	st, ok := statOf(fi)
	if !ok {
		return probeReading{}
	}
	// ctime too: on some file systems the two may differ by a tick.
	return probeReading{ns: min(st.MtimeNS, st.CtimeNS), dev: st.Dev, ok: true}
}
