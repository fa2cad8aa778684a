package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Kinds of problem Verify finds.
const (
	// Changed: a record's content no longer matches its hash, or the
	// record after it links to another version of it.
	Changed = "changed"
	// Missing: records were removed (a gap in the sequence, or an end
	// before the head).
	Missing = "missing"
	// OutOfOrder: a record stands where it does not belong.
	OutOfOrder = "out_of_order"
	// Duplicate: a sequence number appears twice.
	Duplicate = "duplicate"
	// Unreadable: a line is not a record.
	Unreadable = "unreadable"
)

// Problem is one thing wrong with the log, naming the record (by its
// sequence number) and the line where it was found.
type Problem struct {
	Kind    string `json:"kind"`
	Seq     uint64 `json:"seq,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Report is the outcome of a verification.
type Report struct {
	// Records is how many records the file holds.
	Records int `json:"records"`
	// Head is where the chain must reach: the head file's (or, for a
	// running server, its own memory's).
	Head     *Head     `json:"head,omitempty"`
	Problems []Problem `json:"problems"`
}

// OK says no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the audit log in dir against itself and its head file:
// every record's content against its hash, every link against the record
// before it, the sequence for gaps, repeats and order, and the end of
// the log against the head. Each problem names the record and the line.
// It reads only; an error is a log that cannot be read at all.
func Verify(dir string) (*Report, error) {
	var head *Head
	data, err := os.ReadFile(filepath.Join(dir, HeadFile))
	switch {
	case err == nil:
		var h Head
		if json.Unmarshal(data, &h) == nil && h.Seq > 0 {
			head = &h
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("audit log head: %w", err)
	}
	rep, err := verifyFile(filepath.Join(dir, LogFile), head)
	if err == nil && head == nil && len(data) > 0 {
		rep.Problems = append(rep.Problems, Problem{Kind: Changed, Message: "the head file " + HeadFile + " is not readable: the end of the log cannot be checked"})
	}
	return rep, err
}

// Verify checks the log as Verify does, against the head this Log holds
// in memory (which a change to the files cannot reach).
func (l *Log) Verify() (*Report, error) {
	l.flush()
	l.mu.Lock()
	head := l.head
	l.mu.Unlock()
	var h *Head
	if head.Seq > 0 {
		h = &head
	}
	return verifyFile(filepath.Join(l.dir, LogFile), h)
}

type entry struct {
	rec    Record
	line   int
	intact bool
}

func verifyFile(path string, head *Head) (*Report, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f = nil
	} else if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	rep := &Report{Head: head, Problems: []Problem{}}
	add := func(kind string, seq uint64, line int, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: kind, Seq: seq, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	var entries []entry
	if f != nil {
		defer f.Close()
		err = eachLine(f, func(n int, line []byte) error {
			r, intact, err := decode(line)
			if err != nil {
				add(Unreadable, 0, n, "line %d is not a record (%v)", n, err)
				return nil
			}
			entries = append(entries, entry{rec: r, line: n, intact: intact})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
	}
	rep.Records = len(entries)

	byseq := map[uint64]*entry{}
	var last uint64
	for i := range entries {
		e := &entries[i]
		r := e.rec
		if !e.intact {
			add(Changed, r.Seq, e.line, "record %d (line %d) was changed: its content does not match its hash", r.Seq, e.line)
		}
		if first, dup := byseq[r.Seq]; dup {
			add(Duplicate, r.Seq, e.line, "record %d appears twice (lines %d and %d)", r.Seq, first.line, e.line)
			continue
		}
		byseq[r.Seq] = e
		if i > 0 {
			if p := entries[i-1]; r.Seq < p.rec.Seq {
				if p.rec.Seq == r.Seq+1 {
					add(OutOfOrder, r.Seq, e.line, "records %d and %d are swapped (lines %d and %d)", r.Seq, p.rec.Seq, p.line, e.line)
				} else {
					add(OutOfOrder, r.Seq, e.line, "record %d (line %d) is out of order: it comes after record %d", r.Seq, e.line, p.rec.Seq)
				}
			}
		}
		last = max(last, r.Seq)
	}
	for i := range entries {
		e := &entries[i]
		r := e.rec
		if byseq[r.Seq] != e {
			continue
		}
		switch prev, ok := byseq[r.Seq-1]; {
		case r.Seq == 0:
			add(Changed, 0, e.line, "line %d holds a record numbered 0", e.line)
		case r.Seq == 1 && r.Prev != "":
			add(Changed, 1, e.line, "record 1 (line %d) links to a record before it: the start of the log was changed", e.line)
		case ok && prev.intact && r.Prev != prev.rec.Hash:
			// The record before matches its own hash, so it was rewritten
			// with a new hash; this one still links to what it was.
			add(Changed, prev.rec.Seq, prev.line, "record %d (line %d) was changed: record %d links to another version of it", prev.rec.Seq, prev.line, r.Seq)
		}
	}
	for s := uint64(1); s <= last; s++ {
		if byseq[s] != nil {
			continue
		}
		end := s
		for end+1 <= last && byseq[end+1] == nil {
			end++
		}
		if end == s {
			add(Missing, s, 0, "record %d is missing: it was removed from between records %d and %d", s, s-1, s+1)
		} else {
			add(Missing, s, 0, "records %d to %d are missing: they were removed from between records %d and %d", s, end, s-1, end+1)
		}
		s = end
	}
	if head != nil {
		switch e := byseq[head.Seq]; {
		case head.Seq == last+1:
			add(Missing, head.Seq, 0, "record %d is missing from the end: the log reached it", head.Seq)
		case head.Seq > last:
			add(Missing, last+1, 0, "records %d to %d are missing from the end: the log reached record %d", last+1, head.Seq, head.Seq)
		case e != nil && e.rec.Hash != head.Hash:
			add(Changed, head.Seq, e.line, "record %d (line %d) was changed: it is not the record the head names", head.Seq, e.line)
		}
	}
	return rep, nil
}
