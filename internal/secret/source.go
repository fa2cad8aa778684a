package secret

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"github.com/tugdev/tug/internal/kit"
)

// ErrMissing means secrets a job asked for were found nowhere.
var ErrMissing = errors.New("secrets not found")

// ErrBadFile means the local secrets file could not be parsed.
var ErrBadFile = errors.New("bad secrets file")

// LocalFile is where a repository keeps secrets for local runs, relative to
// its root. It must never be committed.
const LocalFile = ".tug/secrets.env"

// Resolve finds each named secret on a machine without a store: first
// through lookup (the process environment), then in dir's LocalFile
// (KEY=VALUE lines, # comments, optional quotes). It warns when LocalFile
// is tracked by git. Missing secrets give one error naming all of them,
// wrapping ErrMissing.
func Resolve(names []string, dir string, lookup func(string) (string, bool)) (map[string]Value, []string, error) {
	var warnings []string
	f := &File{Dir: dir, Warn: func(w string) { warnings = append(warnings, w) }}
	got, err := Chain{Env(lookup), f}.Resolve(context.Background(), "", names, nil)
	if err != nil {
		return nil, warnings, err
	}
	return Values(got), warnings, nil
}

// ReadEnvFile parses a file of KEY=VALUE lines (# comments, optional
// quotes, `export `), as LocalFile is read. Errors name the line but never
// quote its value; a missing file is an error.
func ReadEnvFile(path string) (map[string]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	return readFile(path)
}

// readFile parses a secrets file; a missing file is no error and gives nil.
// Errors name the line but never quote its value.
func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !kit.ValidEnvName(key) {
			return nil, fmt.Errorf("%w: %s:%d: want KEY=VALUE", ErrBadFile, path, n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') {
			if val[len(val)-1] != val[0] {
				return nil, fmt.Errorf("%w: %s:%d: %s: unterminated quote", ErrBadFile, path, n, key)
			}
			val = val[1 : len(val)-1]
		}
		vals[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadFile, path, err)
	}
	return vals, nil
}

// trackedByGit reports whether dir's LocalFile is in git's index.
func trackedByGit(dir string) bool {
	cmd := exec.Command("git", "-C", dir, "ls-files", "--error-unmatch", LocalFile)
	return cmd.Run() == nil
}
