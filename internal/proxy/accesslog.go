package proxy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes one JSON line per request to a file through a buffer
// that is flushed at least every second, and rotates the file by size
// (access.log -> access.log.1 -> ... up to keep files). Lines are encoded
// by hand into pooled buffers: encoding/json would be the most expensive
// thing on the hot path.
type accessLog struct {
	path     string
	maxBytes int64
	keep     int

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	size int64
	err  error // first write error, reported once

	pool sync.Pool
}

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
}

func openAccessLog(path string, maxBytes int64, keep int) (*accessLog, error) {
	l := &accessLog{path: path, maxBytes: maxBytes, keep: keep}
	l.pool.New = func() any { b := make([]byte, 0, 512); return &b }
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *accessLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("access log: %w", err)
	}
	l.f, l.size = f, st.Size()
	if l.w == nil {
		l.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		l.w.Reset(f)
	}
	return nil
}

// write appends one entry. Safe for concurrent use.
func (l *accessLog) write(e *accessEntry) {
	bp := l.pool.Get().(*[]byte)
	b := e.appendJSON((*bp)[:0])
	l.mu.Lock()
	if l.f != nil {
		if l.maxBytes > 0 && l.size+int64(len(b)) > l.maxBytes {
			l.rotateLocked()
		}
		n, err := l.w.Write(b)
		l.size += int64(n)
		if err != nil && l.err == nil {
			l.err = err
		}
	}
	l.mu.Unlock()
	*bp = b
	l.pool.Put(bp)
}

func (l *accessLog) rotateLocked() {
	l.w.Flush()
	l.f.Close()
	for i := l.keep - 1; i >= 1; i-- {
		os.Rename(l.path+"."+strconv.Itoa(i), l.path+"."+strconv.Itoa(i+1))
	}
	if l.keep > 0 {
		os.Rename(l.path, l.path+".1")
	} else {
		os.Remove(l.path)
	}
	if err := l.open(); err != nil {
		l.f = nil
		if l.err == nil {
			l.err = err
		}
	}
}

// flushEvery flushes the buffer every interval until ctx ends.
func (l *accessLog) flushEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *accessLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	if err := l.w.Flush(); err != nil {
		return err
	}
	return l.err
}

func (l *accessLog) close() error {
	err := l.flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	return err
}

func (e *accessEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"ts":"`...)
	b = e.time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
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
	b = strconv.AppendFloat(b, float64(e.duration.Microseconds())/1000, 'f', 3, 64)
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
	return append(b, "}\n"...)
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
