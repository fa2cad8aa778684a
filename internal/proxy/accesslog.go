package proxy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// accessLog writes one JSON line per request into time-partitioned
// segment files under <state>/proxy/access/: a new segment opens every
// hour (UTC) and when the current one passes maxBytes. Segments are named
// access-<UTC start, fixed width>.log, so name order is time order, and a
// segment's modification time bounds the times of its lines: readers
// (`tug logs`, the server's retention) select segments by time without
// opening them. Nothing reads them at ingest: the cost of searching is
// paid at query time.
//
// Request goroutines only append to an in-memory buffer under a short
// lock; a full buffer is handed to the writer goroutine, which also
// writes whatever is pending at least every second. No request waits on
// the disk unless the writer falls behind by several buffers. Lines are
// encoded by hand: encoding/json would be the most expensive thing on the
// hot path.
type accessLog struct {
	dir      string
	maxBytes int64
	keep     int // segments kept by the proxy itself; 0: all (the server prunes by age)
	now      func() time.Time

	mu      sync.Mutex // guards buf
	buf     []byte
	full    chan []byte // buffers ready for the file
	bufPool sync.Pool   // spare buffers (*[]byte)
	scratch sync.Pool   // per-line encoding buffers (*[]byte)
	stamp   atomic.Pointer[stampSecond]

	wmu    sync.Mutex // guards f, size, opened, err: file writes and rotation
	f      *os.File
	size   int64
	opened time.Time // when f's segment began
	err    error     // first write error, reported by flush and close
}

// AccessDirName is the directory of access-log segments inside
// <state>/proxy; segmentPrefix and segmentSuffix frame each name.
const (
	AccessDirName = "access"
	segmentPrefix = "access-"
	segmentSuffix = ".log"
	segmentTime   = "20060102T150405.000000000Z"
)

// accessBufSize is when a buffer goes to the file.
const accessBufSize = 64 << 10

// accessEntry is what one line records.
type accessEntry struct {
	time      time.Time
	requestID string
	remote    string
	method    string
	host      string
	path      string
	proto     string
	status    int
	bytes     int64
	duration  time.Duration
	service   string
	env       string
	release   string
	instance  string
	upstream  string
	// tail, when set, is appendTail's encoding of service to upstream,
	// made once per backend.
	tail []byte
}

func openAccessLog(dir string, maxBytes int64, keep int, now func() time.Time) (*accessLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	l := &accessLog{dir: dir, maxBytes: maxBytes, keep: keep, now: now, full: make(chan []byte, 4)}
	l.scratch.New = func() any { b := make([]byte, 0, 512); return &b }
	l.bufPool.New = func() any { b := make([]byte, 0, accessBufSize+4096); return &b }
	l.buf = l.newBuf()
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *accessLog) newBuf() []byte { return (*l.bufPool.Get().(*[]byte))[:0] }

// open starts a new segment.
func (l *accessLog) open() error {
	now := l.now().UTC()
	name := filepath.Join(l.dir, segmentPrefix+now.Format(segmentTime)+segmentSuffix)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("access log: %w", err)
	}
	l.f, l.size, l.opened = f, st.Size(), now
	return nil
}

// segments lists the access-log segment files in dir, oldest first.
func segments(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"+segmentSuffix))
	sort.Strings(m)
	return m, err
}

// write appends one entry. Safe for concurrent use.
func (l *accessLog) write(e *accessEntry) {
	sp := l.scratch.Get().(*[]byte)
	line := e.appendJSON((*sp)[:0], l.second(e.time.UTC()))
	l.mu.Lock()
	l.buf = append(l.buf, line...)
	var full []byte
	if len(l.buf) >= accessBufSize {
		full, l.buf = l.buf, l.newBuf()
	}
	l.mu.Unlock()
	*sp = line
	l.scratch.Put(sp)
	if full != nil {
		select {
		case l.full <- full:
		default: // the writer is behind: write it ourselves
			l.writeOut(full)
		}
	}
}

// writeOut writes b to the file, rotating first if it would pass the size
// limit, and recycles b.
func (l *accessLog) writeOut(b []byte) {
	if len(b) > 0 {
		l.wmu.Lock()
		if l.f != nil && l.size > 0 && (l.maxBytes > 0 && l.size+int64(len(b)) > l.maxBytes ||
			l.now().UTC().Truncate(time.Hour) != l.opened.Truncate(time.Hour)) {
			l.rotateLocked()
		}
		if l.f != nil {
			n, err := l.f.Write(b)
			l.size += int64(n)
			if err != nil && l.err == nil {
				l.err = err
			}
		}
		l.wmu.Unlock()
	}
	b = b[:0]
	l.bufPool.Put(&b)
}

// rotateLocked closes the segment, opens the next and drops the oldest
// beyond keep.
func (l *accessLog) rotateLocked() {
	l.f.Close()
	l.f = nil
	if err := l.open(); err != nil && l.err == nil {
		l.err = err
	}
	if l.keep > 0 {
		if segs, err := segments(l.dir); err == nil && len(segs) > l.keep {
			for _, p := range segs[:len(segs)-l.keep] {
				os.Remove(p)
			}
		}
	}
}

// run is the writer: full buffers as they come, the pending one every
// interval, until ctx ends.
func (l *accessLog) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-l.full:
			l.writeOut(b)
		case <-t.C:
			l.flush()
		}
	}
}

// flush writes everything appended so far.
func (l *accessLog) flush() error {
	for {
		select {
		case b := <-l.full:
			l.writeOut(b)
			continue
		default:
		}
		break
	}
	l.mu.Lock()
	b := l.buf
	l.buf = l.newBuf()
	l.mu.Unlock()
	l.writeOut(b)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.err
}

func (l *accessLog) close() error {
	err := l.flush()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	return err
}

// appendJSON appends e's line; sec is its time's second, formatted (see
// accessLog.second).
func (e *accessEntry) appendJSON(b []byte, sec *stampSecond) []byte {
	b = append(b, `{"ts":"`...)
	b = append(b, sec.text...)
	b = appendDigits(b, e.time.Nanosecond()/1e6, 3)
	b = append(b, 'Z')
	b = append(b, `","request_id":`...)
	b = appendJSONString(b, e.requestID)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, e.remote)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.host)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.path)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.duration)
	if e.tail != nil {
		b = append(b, e.tail...)
	} else {
		b = e.appendTail(b)
	}
	return append(b, "}\n"...)
}

// appendTail encodes the fields from service on.
func (e *accessEntry) appendTail(b []byte) []byte {
	if e.service != "" {
		b = append(b, `,"service":`...)
		b = appendJSONString(b, e.service)
		b = append(b, `,"environment":`...)
		b = appendJSONString(b, e.env)
	}
	if e.instance != "" {
		b = append(b, `,"release":`...)
		b = appendJSONString(b, e.release)
		b = append(b, `,"instance":`...)
		b = appendJSONString(b, e.instance)
		b = append(b, `,"upstream":`...)
		b = appendJSONString(b, e.upstream)
	}
	return b
}

// stampSecond is one second of the lines' timestamps, formatted up to
// its decimal point.
type stampSecond struct {
	unix int64
	text []byte // "2006-01-02T15:04:05."
}

// second is t's stampSecond (t in UTC): the one of the previous line
// most of the time, so a line formats only its milliseconds.
func (l *accessLog) second(t time.Time) *stampSecond {
	u := t.Unix()
	if c := l.stamp.Load(); c != nil && c.unix == u {
		return c
	}
	ts := appendTimestamp(nil, t.Truncate(time.Second))
	c := &stampSecond{unix: u, text: ts[:len(ts)-len("000Z")]}
	l.stamp.Store(c)
	return c
}

// appendTimestamp appends t (UTC) as t.AppendFormat(b,
// "2006-01-02T15:04:05.000Z07:00") does for years 0 to 9999, without
// interpreting the layout on every line.
func appendTimestamp(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendMillis appends d in milliseconds with three decimals (whole
// microseconds), as strconv.AppendFloat(b, µs/1000, 'f', 3, 64) would.
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 {
		return strconv.AppendFloat(b, float64(us)/1000, 'f', 3, 64)
	}
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '.')
	return appendDigits(b, int(us%1000), 3)
}

// appendDigits appends n (>= 0) in decimal, zero-padded to width.
func appendDigits(b []byte, n, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n > 0 || i > len(buf)-width {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[i:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
