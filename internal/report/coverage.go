package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// coverBlock is one block's statements and whether any run covered it.
type coverBlock struct {
	stmts   int
	covered bool
}

// ParseCoverProfile reads a Go cover profile (`go test -coverprofile`) and
// returns the percentage of statements covered, as `go tool cover -func`
// totals it: a block listed several times (profiles of several test
// binaries with -coverpkg) counts once, covered if any entry has a count.
// A profile without statements is 0%.
func ParseCoverProfile(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	blocks := map[string]*coverBlock{}
	mode := ""
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if m, ok := strings.CutPrefix(text, "mode:"); ok {
			// Concatenated profiles repeat the mode line.
			m = strings.TrimSpace(m)
			switch {
			case m != "set" && m != "count" && m != "atomic":
				return 0, fmt.Errorf("%w: line %d: unknown mode %q", ErrBadReport, line, m)
			case mode != "" && m != mode:
				return 0, fmt.Errorf("%w: line %d: mode %s after mode %s", ErrBadReport, line, m, mode)
			}
			mode = m
			continue
		}
		if mode == "" {
			return 0, fmt.Errorf("%w: line %d: no \"mode:\" line first, not a Go cover profile", ErrBadReport, line)
		}
		key, stmts, count, err := parseCoverLine(text)
		if err != nil {
			return 0, fmt.Errorf("%w: line %d: %v", ErrBadReport, line, err)
		}
		b := blocks[key]
		if b == nil {
			b = &coverBlock{stmts: stmts}
			blocks[key] = b
		} else if b.stmts != stmts {
			return 0, fmt.Errorf("%w: line %d: block %s has %d statements, earlier %d", ErrBadReport, line, key, stmts, b.stmts)
		}
		b.covered = b.covered || count > 0
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read cover profile: %w", err)
	}
	if mode == "" {
		return 0, fmt.Errorf("%w: empty, not a Go cover profile", ErrBadReport)
	}
	var total, covered int64
	for _, b := range blocks {
		total += int64(b.stmts)
		if b.covered {
			covered += int64(b.stmts)
		}
	}
	if total == 0 {
		return 0, nil
	}
	return float64(covered) / float64(total) * 100, nil
}

// parseCoverLine splits "file.go:10.2,12.3 4 1" into its block key
// ("file.go:10.2,12.3"), statement count and hit count. The file name may
// itself hold spaces or colons.
func parseCoverLine(s string) (key string, stmts int, count int64, err error) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return "", 0, 0, fmt.Errorf("%q: want \"file:start,end statements count\"", s)
	}
	j := strings.LastIndexByte(s[:i], ' ')
	if j < 0 {
		return "", 0, 0, fmt.Errorf("%q: want \"file:start,end statements count\"", s)
	}
	key = s[:j]
	colon := strings.LastIndexByte(key, ':')
	if colon <= 0 || !validSpan(key[colon+1:]) {
		return "", 0, 0, fmt.Errorf("%q: bad block position", s)
	}
	stmts, err = strconv.Atoi(s[j+1 : i])
	if err != nil || stmts < 0 {
		return "", 0, 0, fmt.Errorf("%q: bad statement count", s)
	}
	count, err = strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || count < 0 {
		return "", 0, 0, fmt.Errorf("%q: bad hit count", s)
	}
	return key, stmts, count, nil
}

// validSpan checks "line.col,line.col".
func validSpan(s string) bool {
	start, end, ok := strings.Cut(s, ",")
	return ok && validPos(start) && validPos(end)
}

func validPos(s string) bool {
	l, c, ok := strings.Cut(s, ".")
	_, err1 := strconv.Atoi(l)
	_, err2 := strconv.Atoi(c)
	return ok && err1 == nil && err2 == nil
}

func parseCoverFile(root *os.Root, name, p string) (float64, error) {
	f, err := readReport(root, name, p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pct, err := ParseCoverProfile(f)
	if err != nil {
		return 0, fmt.Errorf("coverage profile %s: %w", p, err)
	}
	return pct, nil
}
