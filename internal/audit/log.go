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
// hash-chained records. One goroutine writes them in the order they
// come, many at a time: callers only hand records over. Safe for
// concurrent use.
type Log struct {
	dir string
	o   Options
	f   *os.File

	// sendMu guards closed against hand-overs: Close waits for those
	// under way, and none start after it.
	sendMu sync.RWMutex
	closed bool
	queue  chan pending
	done   chan struct{} // closed when the writer has stopped

	mu   sync.Mutex // guards head
	head Head
	size int64 // the writer's, or Open's before it starts
}

// pending is a record handed to the writer; ack, when set, hears once it
// is on disk (or why not).
type pending struct {
	r   Record
	ack chan error
	// flush asks only for the ack, once what came before is written.
	flush bool
}

// queueLen bounds the records waiting for the writer: a flood beyond it
// waits for the disk rather than for memory to run out.
const queueLen = 4096

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
	if err := l.checkHead(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l.queue, l.done = make(chan pending, queueLen), make(chan struct{})
	go l.write()
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
	return l.writeBatch([]pending{{r: Record{Actor: "tug", Action: "audit.damaged", Outcome: Failed, Detail: problem}}}, true)
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
// are set here, Time when r has none. Records that arrive together share
// one write and one fsync. ctx is not used to abandon a record: one
// handed over is written.
func (l *Log) Record(_ context.Context, r Record) error {
	ack := make(chan error, 1)
	if err := l.hand(pending{r: l.prepare(r), ack: ack}); err != nil {
		return err
	}
	return <-ack
}

// Note appends r like Record but returns once the writer has it, before
// it is written: for records that come in floods, such as refused
// credentials, so a flood costs its requests no more than a valid one
// and cannot make the server wait for the disk. A crash of tug may lose
// the records of its last moment; Close writes all.
func (l *Log) Note(r Record) error {
	return l.hand(pending{r: l.prepare(r)})
}

// prepare stamps, masks and bounds r (outside the writer, so the writer
// only chains and writes).
func (l *Log) prepare(r Record) Record {
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
	return r
}

// flush returns once every record handed over before it is written, so
// a reader sees them.
func (l *Log) flush() {
	ack := make(chan error, 1)
	if l.hand(pending{ack: ack, flush: true}) == nil {
		<-ack
	}
}

func (l *Log) hand(p pending) error {
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.queue <- p
	return nil
}

// write is the writer: it takes what has queued up, writes it in one go,
// forces it to disk when someone waits for that, and answers them.
func (l *Log) write() {
	defer close(l.done)
	const most = 256
	batch := make([]pending, 0, most)
	for p := range l.queue {
		batch = append(batch[:0], p)
	more:
		for len(batch) < most {
			select {
			case q, ok := <-l.queue:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		durable := false
		for _, q := range batch {
			durable = durable || (q.ack != nil && !q.flush)
		}
		err := l.writeBatch(batch, durable)
		if err != nil {
			l.o.Logger.Error("audit log: records not written", "records", len(batch), "err", err)
		}
		for _, q := range batch {
			if q.ack != nil {
				q.ack <- err
			}
		}
	}
}

// writeBatch chains the records and appends them with one write, then,
// if durable, fsyncs and writes the head. On a failed write the file is
// cut back to where it was and the chain does not move.
func (l *Log) writeBatch(batch []pending, durable bool) error {
	l.mu.Lock()
	head := l.head
	l.mu.Unlock()
	var buf []byte
	for _, p := range batch {
		if p.flush {
			continue
		}
		r := p.r
		r.Seq, r.Prev = head.Seq+1, head.Hash
		line, hash, err := encode(r)
		if err != nil {
			return err
		}
		buf = append(buf, line...)
		head = Head{Seq: r.Seq, Hash: hash}
	}
	if len(buf) == 0 {
		return nil // flushes only
	}
	if _, err := l.f.Write(buf); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("audit log: %w", err)
	}
	l.size += int64(len(buf))
	l.mu.Lock()
	l.head = head
	l.mu.Unlock()
	if !durable {
		return nil
	}
	return l.sync(head)
}

// sync forces the log to disk, then writes the head naming its end: the
// head may lag the log (Notes are not forced), never lead it.
func (l *Log) sync(head Head) error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	data, _ := json.Marshal(head)
	if err := kit.WriteFileFrom(filepath.Join(l.dir, HeadFile), 0o600, kit.SyncNone, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("audit log head: %w", err)
	}
	return nil
}

// Head is the end of the chain as this Log has written it.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// Close writes what was handed over, forces it to disk with the head,
// and closes the file. Records given after Close are refused.
func (l *Log) Close() error {
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.sendMu.Unlock()
	<-l.done
	err := l.sync(l.Head())
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

// Query reads the records f selects, oldest first, every one handed over
// before it included. Lines that are not records are skipped (Verify
// reports them).
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, error) {
	l.flush()
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
