package image

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// stateDirName is tug's state directory: never part of a build context,
// whatever .dockerignore says (it holds secrets.env).
const stateDirName = ".tug"

// ignoreRule is one line of a .dockerignore file.
type ignoreRule struct {
	pattern string
	negate  bool
}

// readDockerignore reads the context's .dockerignore as the docker CLI
// does: comments and blank lines skipped, a leading ! re-includes, paths
// cleaned and taken from the context's root.
func readDockerignore(dir string) ([]ignoreRule, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var rules []ignoreRule
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate = true
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean(filepath.ToSlash(line)), "/")
		if line == "" || line == "." {
			continue
		}
		if !doublestar.ValidatePattern(line) {
			return nil, fmt.Errorf(".dockerignore:%d: invalid pattern %q", n, line)
		}
		r.pattern = line
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

// ignored says whether rel (slash-separated, relative to the context) is
// left out: the last rule matching it or one of its parent directories
// decides.
func ignored(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		if matchOrParent(r.pattern, rel) {
			out = !r.negate
		}
	}
	return out
}

func matchOrParent(pattern, rel string) bool {
	for p := rel; p != "." && p != ""; p = path.Dir(p) {
		if ok, _ := doublestar.Match(pattern, p); ok {
			return true
		}
	}
	return false
}

// mayReinclude says whether a rule could bring back something under an
// ignored directory, so the walk must enter it.
func mayReinclude(rules []ignoreRule) bool {
	for _, r := range rules {
		if r.negate {
			return true
		}
	}
	return false
}

// writeContext writes dir as a tar build context to w: regular files,
// directories and symlinks (never followed), without what .dockerignore
// leaves out and never the state directory. dockerfile (relative to dir)
// is sent whatever .dockerignore says, as the docker CLI does; extra
// files (a Dockerfile kept outside the context) are added under their
// names.
func writeContext(w io.Writer, dir, dockerfile string, extra map[string]string) error {
	rules, err := readDockerignore(dir)
	if err != nil {
		return err
	}
	reinclude := mayReinclude(rules)
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == stateDirName {
			return filepath.SkipDir
		}
		keep := rel == dockerfile || rel == ".dockerignore" || !ignored(rules, rel)
		if !keep {
			if d.IsDir() && !reinclude {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices, pipes: not build input
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		// Reproducible: owner and times do not change the context.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = info.ModTime(), info.ModTime(), info.ModTime()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	for name, src := range extra {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}
