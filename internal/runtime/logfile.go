package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
)

// A process instance writes its stdout and stderr straight into one file
// opened with O_APPEND, so the output goes on being captured while no
// server runs. The runtime rotates that file by copy-and-truncate (the
// writer keeps its descriptor; with O_APPEND its next write lands at the
// new end), keeping a few numbered generations: output.log.1 is the newest.
// Bytes written between the copy and the truncate are lost; that window is
// a few microseconds per rotation.

// logName is the live log file in an instance's directory.
const logName = "output.log"

// openLog opens (creating) the live log for appending.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// rotateLog rotates path when it holds more than maxBytes, keeping keep
// generations. It reports whether it rotated.
func rotateLog(path string, maxBytes int64, keep int) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Size() <= maxBytes {
		return false, nil
	}
	if keep < 1 {
		keep = 1
	}
	gen := func(i int) string { return path + "." + strconv.Itoa(i) }
	if err := os.Remove(gen(keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(gen(i), gen(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	src, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer src.Close()
	dst, err := os.OpenFile(gen(1), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return false, fmt.Errorf("copy %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return false, err
	}
	if err := src.Truncate(0); err != nil {
		return false, fmt.Errorf("truncate %s: %w", path, err)
	}
	return true, nil
}

// tailLog returns up to n last lines of path and its older generations,
// oldest first. A missing generation is skipped.
func tailLog(path string, n, keep int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []string // newest first while collecting
	for i := 0; i <= keep && len(out) < n; i++ {
		p := path
		if i > 0 {
			p = path + "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		lines := splitLines(b)
		for j := len(lines) - 1; j >= 0 && len(out) < n; j-- {
			out = append(out, lines[j])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// splitLines splits output into lines without their "\n" (and "\r\n");
// a last line without newline counts.
func splitLines(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte("\n"))
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(bytes.TrimSuffix(p, []byte("\r")))
	}
	return out
}
