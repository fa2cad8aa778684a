package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// Files of the audit log, in its directory.
const (
	// LogFile holds the records, one JSON object per line.
	LogFile = "log.jsonl"
	// HeadFile holds the sequence number and hash of the last record
	// forced to disk, so a log cut short is noticed.
	HeadFile = "head.json"
)

// ErrClosed: a record was given after Close.
var ErrClosed = errors.New("audit log closed")

// Options configure a Log; the zero value works.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Mask scrubs Actor, Target and Detail before they are written (the
	// server's masker of known secret values), a second line of defence
	// behind callers that never put a secret in a record.
	Mask func(string) string
	// Logger reports a repaired end of the log.
	Logger *slog.Logger
}

// Head is where the chain ends: the last record's sequence number and hash.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Log is the audit log of one server: an append-only file of
// hash-chained records. Safe for concurrent use; Record calls that
// overlap share one fsync.
type Log struct {
	dir string
	o   Options
	f   *os.File

	mu     sync.Mutex // orders appends
	head   Head
	size   int64
	closed bool

	syncMu sync.Mutex // one fsync at a time; the others wait and find it done
	synced uint64
}

// Open opens (or creates) the audit log in dir (made 0700) and finds the
// end of its chain. A last line cut short by a crash is ended with a
// newline and kept for Verify to report; the chain goes on from the last
// whole record. A log that no longer reaches its head (records removed
// or changed while no server ran) is logged as an error and recorded in
// the log itself, and the chain goes on from the head, so the gap stays
// for Verify to name.
func Open(dir string, o Options) (*Log, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	path := filepath.Join(dir, LogFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l := &Log{dir: dir, o: o, f: f}
	if err := l.findEnd(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l.synced = l.head.Seq
	if err := l.checkHead(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return l, nil
}

// checkHead compares the end of the log with the head file written when
// the log was last forced to disk.
func (l *Log) checkHead() error {
	data, err := os.ReadFile(filepath.Join(l.dir, HeadFile))
	var h Head
	if err != nil || json.Unmarshal(data, &h) != nil || h.Seq == 0 {
		return nil // none yet, or unreadable: Verify says so
	}
	var problem string
	switch {
	case h.Seq > l.head.Seq:
		problem = fmt.Sprintf("the log ends at record %d but its head names record %d: records were removed while no server ran", l.head.Seq, h.Seq)
	case h.Seq == l.head.Seq && h.Hash != l.head.Hash:
		problem = fmt.Sprintf("record %d is not the record its head names: it was changed while no server ran", h.Seq)
	default:
		return nil
	}
	l.o.Logger.Error("the audit log was tampered with: "+problem, "dir", l.dir)
	// Go on from the head: after what was removed, linked to what was
	// changed as it was, so Verify keeps naming it.
	l.head = h
	seq, err := l.append(Record{Actor: "tug", Action: "audit.damaged", Outcome: Failed, Detail: problem})
	if err != nil {
		return err
	}
	return l.sync(seq)
}

// findEnd reads where the chain ends and ends a torn last line.
func (l *Log) findEnd() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	l.size = fi.Size()
	if l.size == 0 {
		return nil
	}
	// The last record is near the end; read all only when it is not.
	for _, from := range []int64{max(0, l.size-64<<10), 0} {
		buf := make([]byte, l.size-from)
		if _, err := l.f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if buf[len(buf)-1] != '\n' {
			l.o.Logger.Warn("the audit log's last line was cut short (a crash while writing); it is kept and `tug audit verify` reports it", "dir", l.dir)
			if _, err := l.f.Write([]byte{'\n'}); err != nil {
				return err
			}
			l.size++
			buf = append(buf, '\n')
		}
		lines := bytes.Split(buf[:len(buf)-1], []byte{'\n'})
		for i := len(lines) - 1; i >= 0; i-- {
			if from > 0 && i == 0 {
				break // may be part of a line
			}
			if r, _, err := decode(lines[i]); err == nil {
				l.head = Head{Seq: r.Seq, Hash: r.Hash}
				return nil
			}
		}
		if from == 0 {
			break
		}
	}
	return errors.New("no record in it can be read: move it aside (it is evidence) and start again")
}

// Record appends r and returns once it is on disk. Seq, Prev and Hash
// are set here, Time when r has none. Safe for concurrent use; ctx is
// not used to abandon a write (a record is written whole or not at all).
func (l *Log) Record(_ context.Context, r Record) error {
	seq, err := l.append(r)
	if err != nil {
		return err
	}
	return l.sync(seq)
}

// Note appends r like Record but returns once it is written, before it
// is forced to disk (the next Record or Close does that): for records
// that come in floods, such as refused credentials, where an fsync each
// would let a flood slow the server. A crash of tug loses none; a power
// cut may lose the last few.
func (l *Log) Note(r Record) error {
	_, err := l.append(r)
	return err
}

func (l *Log) append(r Record) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = l.o.Now()
	}
	r.Time = r.Time.UTC()
	if l.o.Mask != nil {
		r.Actor, r.Target, r.Detail = l.o.Mask(r.Actor), l.o.Mask(r.Target), l.o.Mask(r.Detail)
	}
	r.Actor, r.Action, r.Target, r.Source, r.Detail = clip(r.Actor), clip(r.Action), clip(r.Target), clip(r.Source), clip(r.Detail)
	if r.Outcome == "" {
		r.Outcome = OK
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	r.Seq, r.Prev = l.head.Seq+1, l.head.Hash
	line, hash, err := encode(r)
	if err != nil {
		return 0, err
	}
	if _, err := l.f.Write(line); err != nil {
		// Take back a partial line, so the next record starts clean.
		_ = l.f.Truncate(l.size)
		return 0, fmt.Errorf("audit log: %w", err)
	}
	l.size += int64(len(line))
	l.head = Head{Seq: r.Seq, Hash: hash}
	return r.Seq, nil
}

// sync forces the log to disk up to seq at least, then writes the head.
// Callers that arrive while another fsyncs find their record done.
func (l *Log) sync(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= seq {
		return nil
	}
	l.mu.Lock()
	head := l.head
	l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	l.synced = head.Seq
	data, _ := json.Marshal(head)
	// The head may lag the log (never lead it): it is written after the
	// records it names are on disk.
	if err := kit.WriteFileFrom(filepath.Join(l.dir, HeadFile), 0o600, kit.SyncNone, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("audit log head: %w", err)
	}
	return nil
}

// Head is the end of the chain as this Log wrote it.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// Close forces what was noted to disk and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	seq := l.head.Seq
	l.mu.Unlock()
	err := l.sync(seq)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return err
	}
	l.closed = true
	return errors.Join(err, l.f.Close())
}

// Filter selects records.
type Filter struct {
	// Since keeps records at or after it (zero: all).
	Since time.Time
	// Actor keeps an actor's records: the actor as recorded, a token's
	// name ("ci" for token:ci) or a user name ("ann" for "ann (uid
	// 1000)").
	Actor string
	// Limit keeps the newest Limit records (0: all).
	Limit int
}

// Query reads the records f selects, oldest first. Lines that are not
// records are skipped (Verify reports them).
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, error) {
	rd, err := os.Open(filepath.Join(l.dir, LogFile))
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rd.Close()
	var out []Record
	err = eachLine(rd, func(_ int, line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, _, err := decode(line)
		if err != nil || r.Time.Before(f.Since) || (f.Actor != "" && !actorIs(r.Actor, f.Actor)) {
			return nil
		}
		out = append(out, r)
		if f.Limit > 0 && len(out) > 2*f.Limit {
			out = append(out[:0], out[len(out)-f.Limit:]...)
		}
		return nil
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, err
}

func actorIs(actor, want string) bool {
	return strings.EqualFold(actor, want) || strings.EqualFold(actor, "token:"+want) ||
		strings.HasPrefix(strings.ToLower(actor), strings.ToLower(want)+" (uid ")
}

// eachLine calls fn with every line of r (numbered from 1, without its
// newline), however long.
func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if ferr := fn(n, bytes.TrimSuffix(line, []byte{'\n'})); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
