package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The proxy's access log is not ingested: keeping every request's line in
// the database cost the server about as much CPU per request as the proxy
// spent proxying it. The proxy writes its lines in batches to segment
// files under <state>/proxy/access/ (a new one every hour and past a size
// limit, named so that name order is time order; see the proxy's
// accesslog.go), and searches, follows and retention read those files
// here. A segment's modification time bounds the times of its lines, so
// --since and retention pick segments without opening them.

// accessDir is where the proxy writes its access-log segments.
func accessDir(stateDir string) string { return filepath.Join(stateDir, "proxy", "access") }

// accessPos is a place in the access log: a segment (base name) and a byte
// offset in it. The zero value is before the first line.
type accessPos struct {
	seg string
	off int64
}

func (p accessPos) before(q accessPos) bool {
	return p.seg < q.seg || p.seg == q.seg && p.off < q.off
}

// segment is one access-log file.
type segment struct {
	name string // base name
	path string
	size int64
	mod  time.Time
}

// listSegments returns the segments in dir, oldest first.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []segment
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "access-") || !strings.HasSuffix(n, ".log") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // pruned meanwhile
		}
		out = append(out, segment{name: n, path: filepath.Join(dir, n), size: fi.Size(), mod: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// accessEnd is the end of the access log now: a search bounded by it and a
// follow starting from it see every line once.
func accessEnd(dir string) (accessPos, error) {
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		return accessPos{}, err
	}
	last := segs[len(segs)-1]
	return accessPos{seg: last.name, off: last.size}, nil
}

// accessFilter is the part of a Query the scan applies per line, cheapest
// test first: literal attribution fields, then the time, then the regexp.
type accessFilter struct {
	q       *Query
	service []byte // `"service":"web"`, nil for the proxy pseudo-service
	env     []byte
}

func newAccessFilter(q *Query) *accessFilter {
	f := &accessFilter{q: q}
	if q.Service != ServiceProxy {
		f.service = []byte(`"service":` + jsonString(q.Service))
	}
	if q.Env != "" {
		f.env = []byte(`"environment":` + jsonString(q.Env))
	}
	return f
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// match reports whether line passes and returns its time (fallback when
// the line carries none).
func (f *accessFilter) match(line []byte, fallback time.Time) (time.Time, bool) {
	if f.service != nil && !bytes.Contains(line, f.service) {
		return time.Time{}, false
	}
	if f.env != nil && !bytes.Contains(line, f.env) {
		return time.Time{}, false
	}
	ts := lineTime(line, fallback)
	if !f.q.Since.IsZero() && ts.Before(f.q.Since) {
		return time.Time{}, false
	}
	if f.q.Grep != nil && !f.q.Grep.Match(line) {
		return time.Time{}, false
	}
	return ts, true
}

// lineTime reads the "ts" the proxy writes first on every line.
func lineTime(line []byte, fallback time.Time) time.Time {
	const pre = `{"ts":"`
	if !bytes.HasPrefix(line, []byte(pre)) {
		return fallback
	}
	rest := line[len(pre):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return fallback
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return fallback
	}
	return t.UTC()
}

// accessLine turns a kept line into a Line with its attribution.
func accessLine(text string, ts time.Time) Line {
	ln := Line{Time: ts, Service: ServiceProxy, Stream: StreamAccess, Text: text}
	var e struct {
		Service     string `json:"service"`
		Environment string `json:"environment"`
		Release     string `json:"release"`
		Instance    string `json:"instance"`
	}
	if json.Unmarshal([]byte(text), &e) == nil {
		if e.Service != "" {
			ln.Service = e.Service
		}
		ln.Environment, ln.Release, ln.Instance = e.Environment, e.Release, e.Instance
	}
	return ln
}

// scanSegment calls fn with each complete line of seg from off up to end
// (-1: the file's end) and returns the offset after the last complete line.
func scanSegment(seg segment, off, end int64, fn func(line []byte)) (int64, error) {
	f, err := os.Open(seg.path)
	if errors.Is(err, fs.ErrNotExist) {
		return off, nil // pruned meanwhile
	}
	if err != nil {
		return off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	var r io.Reader = f
	if end >= 0 {
		r = io.LimitReader(f, end-off)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	pos := off
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line past 64 KiB: take it whole, rarely.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if err == io.EOF {
				return pos, nil // an unfinished last line waits for its newline
			}
			return pos, err
		}
		pos += int64(len(line))
		fn(bytes.TrimRight(line, "\r\n"))
	}
}

// searchAccess returns the newest limit access lines matching q up to
// until (zero: the end), oldest first. It reads segments newest first and
// stops once older ones cannot matter.
func searchAccess(dir string, q *Query, limit int) ([]Line, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	f := newAccessFilter(q)
	var out []Line // newest segments' matches, oldest first
	for i := len(segs) - 1; i >= 0 && len(out) < limit; i-- {
		seg := segs[i]
		if q.untilAccess.seg != "" && seg.name > q.untilAccess.seg {
			continue
		}
		if !q.Since.IsZero() && seg.mod.Before(q.Since) {
			break // this one and every older one end before since
		}
		end := int64(-1)
		if seg.name == q.untilAccess.seg {
			end = q.untilAccess.off
		}
		// Keep the last limit-len(out) matches of this segment.
		room := limit - len(out)
		var ring []Line
		_, err := scanSegment(seg, 0, end, func(line []byte) {
			ts, ok := f.match(line, seg.mod)
			if !ok {
				return
			}
			if len(ring) == room {
				copy(ring, ring[1:])
				ring = ring[:room-1]
			}
			ring = append(ring, Line{Time: ts, Text: string(line)})
		})
		if err != nil {
			return nil, err
		}
		for j := range ring {
			ring[j] = accessLine(ring[j].Text, ring[j].Time)
		}
		out = append(ring, out...)
	}
	return out, nil
}

// followAccess calls each with the matching lines after from and returns
// the position after the last complete line read.
func followAccess(dir string, q *Query, from accessPos, each func(Line) error) (accessPos, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return from, err
	}
	f := newAccessFilter(q)
	var cbErr error
	for _, seg := range segs {
		if seg.name < from.seg {
			continue
		}
		off := int64(0)
		if seg.name == from.seg {
			off = from.off
			if seg.size <= off {
				continue
			}
		}
		end, err := scanSegment(seg, off, -1, func(line []byte) {
			if cbErr != nil {
				return
			}
			if ts, ok := f.match(line, seg.mod); ok {
				cbErr = each(accessLine(string(line), ts))
			}
		})
		if cbErr != nil {
			return from, cbErr
		}
		if err != nil {
			return from, err
		}
		from = accessPos{seg: seg.name, off: end}
	}
	return from, nil
}

// pruneAccess deletes the segments whose lines are all older than cutoff,
// never the newest (the proxy writes to it).
func pruneAccess(dir string, cutoff time.Time) (int, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < len(segs)-1; i++ {
		if segs[i].mod.Before(cutoff) {
			if err := os.Remove(segs[i].path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// mergeNewest merges two time-ordered lists and keeps the newest limit.
func mergeNewest(a, b []Line, limit int) []Line {
	out := make([]Line, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && !b[j].Time.Before(a[i].Time) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}
