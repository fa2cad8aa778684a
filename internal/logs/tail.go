package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// A source is one log file tailed by offset. Two rotation schemes are
// followed without loss or duplication of what was written before the
// rotation:
//   - rename (the proxy's access.log -> access.log.1, then a new file):
//     the live path's inode changes; the rest of the old inode is read
//     from whichever numbered generation now holds it;
//   - copy-truncate (process instances' output.log): the inode stays, a
//     new path.1 appears (its signature changes) and the live file
//     shrinks; the rest is read from path.1 past the old offset. While the
//     copy is done but the truncate not yet, the live file still holds the
//     old bytes before the offset: the poll then waits for the next turn.
//
// With rename rotation, several rotations between two polls lose nothing
// (up to maxGenerations). With copy-truncate, lines written and rotated
// away twice between two polls are lost: path.1 no longer holds them.
type source struct {
	path  string
	attr  Line // Service, Environment, Release, Instance, Stream
	pos   pos  // committed position
	next  pos  // position after the pending poll, committed with its lines
	known bool // pos came from the database
}

// pos is where reading stands: the inode being read, the offset of the
// first unread byte, and the signature of path.1 seen last.
type pos struct {
	ino uint64
	off int64
	rot string
}

// maxGenerations is how many numbered generations are searched for a
// renamed file.
const maxGenerations = 9

// maxRead bounds one poll's read of one file, so a huge backlog is taken
// in several commits.
const maxRead = 4 << 20

// maxLine flushes a line without newline once it is this long.
const maxLine = 64 << 10

// poll reads what is new and returns the complete lines; s.next is the
// position to commit with them.
func (s *source) poll() ([]string, error) {
	p := s.pos
	s.next = s.pos
	live, liveErr := os.Stat(s.path)
	if liveErr != nil && !errors.Is(liveErr, fs.ErrNotExist) {
		return nil, liveErr
	}
	liveIno, liveSize := fileID(live), int64(0)
	if live != nil {
		liveSize = live.Size()
	}
	rot := signature(s.path + ".1")
	if !s.known {
		// First sight: read the live file from its start; older
		// generations were written before tug watched.
		p = pos{ino: liveIno, rot: rot}
		s.known = true
		s.pos = p
	}
	var out []string
	switch {
	case p.ino != 0 && liveIno != p.ino:
		// Renamed away: finish the old inode wherever it went, then
		// the whole of any newer generation (rotated more than once
		// since the last poll).
		if g := s.findGeneration(p.ino); g > 0 {
			lines, _, err := readLines(s.gen(g), p.off, true)
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
			for i := g - 1; i >= 1; i-- {
				lines, _, err := readLines(s.gen(i), 0, true)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				out = append(out, lines...)
			}
		}
		p = pos{ino: liveIno, rot: rot}
	case p.ino != 0 && rot != p.rot && rot != "":
		// Copied to path.1, then truncated: finish from the copy.
		if liveSize >= p.off && p.off > 0 && s.stillHolds(p.off) {
			return nil, nil // copied but not yet truncated: next poll
		}
		lines, _, err := readLines(s.path+".1", p.off, true)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append(out, lines...)
		p.off, p.rot = 0, rot
	case liveSize < p.off:
		p.off = 0 // truncated in place without a copy
	}
	p.rot = rot
	if liveIno != 0 {
		lines, n, err := readLines(s.path, p.off, false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append(out, lines...)
		p.off += n
	}
	s.next = p
	return out, nil
}

// stillHolds reports whether the live file still holds the bytes before
// off: path.1 is shorter (the copy is under way) or its bytes just before
// off equal the live file's (the copy is done, the truncate is not).
func (s *source) stillHolds(off int64) bool {
	if fi, err := os.Stat(s.path + ".1"); err == nil && fi.Size() < off {
		return true
	}
	const n = 64
	start := max(off-n, 0)
	a, errA := readAt(s.path, start, off-start)
	b, errB := readAt(s.path+".1", start, off-start)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// findGeneration returns which numbered generation holds inode ino; 0
// when none does.
func (s *source) findGeneration(ino uint64) int {
	for i := 1; i <= maxGenerations; i++ {
		if fi, err := os.Stat(s.gen(i)); err == nil && fileID(fi) == ino {
			return i
		}
	}
	return 0
}

func (s *source) gen(i int) string { return s.path + "." + strconv.Itoa(i) }

// readLines reads path from off and returns its complete lines and the
// bytes they took. With final set (a rotated file, never written again)
// a last line without newline counts too.
func readLines(path string, off int64, final bool) ([]string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRead))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if final || (end == 0 && len(b) >= maxLine) || len(b) == maxRead && end == 0 {
		end = len(b)
	}
	var out []string
	for _, ln := range bytes.SplitAfter(b[:end], []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		ln = bytes.TrimSuffix(bytes.TrimSuffix(ln, []byte("\n")), []byte("\r"))
		out = append(out, string(ln))
	}
	return out, int64(end), nil
}

func readAt(path string, off, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	return b, err
}

// fileID is the inode of fi; 0 for a missing file.
func fileID(fi os.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// signature identifies one version of a rotated generation: a new
// rotation changes inode, size or mtime. "" when missing.
func signature(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d", fileID(fi), fi.Size(), fi.ModTime().UnixNano())
}
