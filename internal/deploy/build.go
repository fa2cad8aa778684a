package deploy

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tugdev/tug/internal/image"
	"github.com/tugdev/tug/internal/kit"
)

// revisionWorktree marks a release copied from a directory that is not a
// git repository.
const revisionWorktree = "worktree"

// releaseMarker is written into a release directory once it is complete
// (exported and built), so an intact release can be reused by a rollback.
const releaseMarker = ".tug-release"

// gitTop returns the top of the git work tree holding dir, or "" if dir
// is not in a git repository.
func gitTop(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// resolveRevision turns a git revision (default HEAD) of source (default
// RepoDir) into a commit SHA, or "worktree" when RepoDir is not a git
// repository and no source is given.
func (m *Manager) resolveRevision(ctx context.Context, source, version string) (string, error) {
	if source != "" {
		out, err := exec.CommandContext(ctx, "git", "--git-dir", source, "rev-parse", "--verify", "--quiet", version+"^{commit}").Output()
		if err != nil || version == "" {
			return "", fmt.Errorf("%w: version %q is not a commit in %s", ErrFailed, version, source)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if gitTop(ctx, m.opts.RepoDir) == "" {
		if version != "" && version != "HEAD" {
			return "", fmt.Errorf("%w: version %q: %s is not a git repository", ErrFailed, version, m.opts.RepoDir)
		}
		return revisionWorktree, nil
	}
	if version == "" {
		version = "HEAD"
	}
	cmd := exec.CommandContext(ctx, "git", "-C", m.opts.RepoDir, "rev-parse", "--verify", "--quiet", version+"^{commit}")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: version %q is not a commit in %s", ErrFailed, version, m.opts.RepoDir)
	}
	return strings.TrimSpace(string(out)), nil
}

// subdir is where tug.yaml sits relative to the repository top.
func (m *Manager) subdir(top, cfgFile string) string {
	dir := m.opts.RepoDir
	if cfgFile != "" {
		if abs, err := filepath.Abs(cfgFile); err == nil {
			dir = filepath.Dir(abs)
		}
	}
	a, err1 := filepath.EvalSymlinks(top)
	b, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil {
		return "."
	}
	rel, err := filepath.Rel(a, b)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "."
	}
	return rel
}

// prepare makes the release's immutable copy for a process service
// (export at the revision, then build) or pins the image of a docker one.
func (m *Manager) prepare(ctx context.Context, rel *Release, p *plan, cfgFile string, progress Progress) error {
	if p.BuildImage != nil {
		return m.buildImage(ctx, rel, p, cfgFile, progress)
	}
	if p.Runtime == "docker" {
		return m.pinImage(ctx, rel, p)
	}
	p.Revision = rel.Revision
	dir := filepath.Join(m.opts.StateDir, "releases", rel.ID)
	p.ReleaseDir = dir
	if _, err := os.Stat(filepath.Join(dir, releaseMarker)); err == nil {
		// Intact from an earlier attempt (a rollback redeploy): reuse.
		return nil
	}
	os.RemoveAll(dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("%w: release dir: %w", ErrFailed, err)
	}
	sub := "."
	if rel.Revision == revisionWorktree {
		emit(progress, m.now, rel.ID, "build", "copying %s (not a git repository)", m.opts.RepoDir)
		if err := copyTree(m.opts.RepoDir, tmp); err != nil {
			return fmt.Errorf("%w: copy %s: %w", ErrFailed, m.opts.RepoDir, err)
		}
	} else {
		var from []string
		from, sub = m.exportSource(ctx, p, cfgFile)
		emit(progress, m.now, rel.ID, "build", "exporting %s at %s", from[1], shortSHA(rel.Revision))
		if err := gitExport(ctx, from, rel.Revision, tmp); err != nil {
			return fmt.Errorf("%w: export revision %s: %w", ErrFailed, rel.Revision, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("%w: release dir: %w", ErrFailed, err)
	}
	p.Dir = filepath.Join(dir, sub)
	if p.Build != "" {
		emit(progress, m.now, rel.ID, "build", "running build in %s", p.Dir)
		if err := runBuild(ctx, p, func(line string) { emit(progress, m.now, rel.ID, "build", "%s", line) }); err != nil {
			return err
		}
	}
	return writeMarker(dir, rel.ID)
}

// pinImage records the image's immutable ID or digest.
func (m *Manager) pinImage(ctx context.Context, rel *Release, p *plan) error {
	rt, err := m.runtimeFor("docker")
	if err != nil {
		return err
	}
	if rel.Digest != "" { // a redeploy runs the image that runs now
		p.Digest = rel.Digest
		return nil
	}
	p.Digest = p.Image
	if puller, ok := rt.(ImagePuller); ok && p.Pull {
		if err := puller.PullImage(ctx, p.Image); err != nil {
			return fmt.Errorf("%w: services.%s.image %q: pull: %w", ErrFailed, p.Service, p.Image, err)
		}
	}
	if r, ok := rt.(ImageResolver); ok {
		d, err := r.ResolveImage(ctx, p.Image)
		if err != nil {
			return fmt.Errorf("%w: services.%s.image %q: %w", ErrFailed, p.Service, p.Image, err)
		}
		p.Digest = d
	}
	rel.Digest = p.Digest
	return nil
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// gitExport writes the tree of rev into dir: git archive | tar x.
// exportSource is where p's revision is exported from (git's arguments:
// the repository holding tug.yaml, or for a pushed commit the server's
// mirror) and where tug.yaml's directory lies inside the export.
func (m *Manager) exportSource(ctx context.Context, p *plan, cfgFile string) (from []string, sub string) {
	top := gitTop(ctx, m.opts.RepoDir)
	sub = m.subdir(top, cfgFile)
	from = []string{"-C", top}
	if p.Source != "" {
		// A pushed commit: exported from the server's mirror, laid out as
		// the repository holding tug.yaml is.
		from = []string{"--git-dir", p.Source}
		if top == "" {
			sub = "."
		}
	}
	return from, sub
}

func gitExport(ctx context.Context, from []string, rev, dir string) error {
	archive := exec.CommandContext(ctx, "git", append(from, "archive", "--format=tar", rev)...)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	var aerr, terr bytes.Buffer
	archive.Stderr, untar.Stderr = &aerr, &terr
	untar.Stdin = pipe
	if err := archive.Start(); err != nil {
		return err
	}
	if err := untar.Start(); err != nil {
		archive.Process.Kill()
		archive.Wait()
		return err
	}
	errA, errT := archive.Wait(), untar.Wait()
	if errA != nil {
		return fmt.Errorf("git archive: %v: %s", errA, strings.TrimSpace(aerr.String()))
	}
	if errT != nil {
		return fmt.Errorf("tar: %v: %s", errT, strings.TrimSpace(terr.String()))
	}
	return nil
}

// copyTree copies src into dst, skipping .tug and .git.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() && (d.Name() == ".tug" || d.Name() == ".git") && filepath.Dir(rel) == "." {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runBuild runs the service's build script with bash in the release copy,
// streaming its lines; a failure carries the last lines.
func runBuild(ctx context.Context, p *plan, line func(string)) error {
	cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", p.Build)
	cmd.Dir = p.Dir
	cmd.Env = os.Environ()
	for k, v := range p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var (
		mu   sync.Mutex
		last []string
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			last = append(last, sc.Text())
			if len(last) > logLines {
				last = last[1:]
			}
			mu.Unlock()
			line(sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%w: build of %s failed: %v\nlast build lines:\n  %s", ErrFailed, p.Service, err, strings.Join(last, "\n  "))
	}
	return nil
}

// writeMarker marks a release directory complete, durably.
func writeMarker(dir, id string) error {
	if err := kit.WriteFile(filepath.Join(dir, releaseMarker), []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return nil
}

// buildImage gives a build_image release its image: the one a pipeline
// already built and pushed for the release's commit, else one built now
// from the commit's files (a copy exported for the build, removed after)
// and pushed. The release pins its digest (the image ID when no registry
// takes it), so a rollback runs exactly it again.
func (m *Manager) buildImage(ctx context.Context, rel *Release, p *plan, cfgFile string, progress Progress) error {
	if m.opts.Images == nil {
		return fmt.Errorf("%w: services.%s.build_image: no image builder is configured for this deploy", ErrFailed, p.Service)
	}
	p.Revision = rel.Revision
	b := p.BuildImage
	out := &lineSink{line: func(l string) { emit(progress, m.now, rel.ID, "build", "%s", l) }}
	defer out.Close()
	req := image.Request{
		Name:     cmp.Or(b.Name, p.Service),
		Registry: p.Registry,
		Target:   b.Target,
		Args:     b.Args,
		Tag:      rel.Revision,
		Labels:   map[string]string{"tug.service": p.Service},
	}
	if rel.Revision != revisionWorktree {
		res, found, err := m.opts.Images.Find(ctx, req, out)
		if err != nil {
			return fmt.Errorf("%w: services.%s.build_image: %w", ErrFailed, p.Service, err)
		}
		if found {
			emit(progress, m.now, rel.ID, "build", "image %s was built for %s: using %s", res.Ref, shortSHA(rel.Revision), res.Pin())
			p.Digest, rel.Digest = res.Pin(), res.Pin()
			return nil
		}
	}
	var dir string
	if rel.Revision == revisionWorktree {
		// Not a git repository: the files as they are, and a tag of this
		// release's own, since the directory is no one revision.
		dir = m.opts.RepoDir
		if cfgFile != "" {
			if abs, err := filepath.Abs(cfgFile); err == nil {
				dir = filepath.Dir(abs)
			}
		}
		req.Tag = revisionWorktree + "-" + rel.ID
	} else {
		from, sub := m.exportSource(ctx, p, cfgFile)
		export := filepath.Join(m.opts.StateDir, "releases", rel.ID+".tmp")
		os.RemoveAll(export)
		if err := os.MkdirAll(export, 0o700); err != nil {
			return fmt.Errorf("%w: build copy: %w", ErrFailed, err)
		}
		defer os.RemoveAll(export)
		emit(progress, m.now, rel.ID, "build", "exporting %s at %s to build the image", from[1], shortSHA(rel.Revision))
		if err := gitExport(ctx, from, rel.Revision, export); err != nil {
			return fmt.Errorf("%w: export revision %s: %w", ErrFailed, rel.Revision, err)
		}
		dir = filepath.Join(export, sub)
	}
	req.Context = filepath.Join(dir, cmp.Or(b.Context, "."))
	if b.Dockerfile != "" {
		req.Dockerfile = filepath.Join(dir, b.Dockerfile)
	}
	res, err := m.opts.Images.Build(ctx, req, out)
	if err != nil {
		return fmt.Errorf("%w: services.%s.build_image: %w", ErrFailed, p.Service, err)
	}
	p.Digest, rel.Digest = res.Pin(), res.Pin()
	return nil
}

// lineSink turns what a writer gets into whole lines for line; Close
// hands on an unfinished last one. Not safe for concurrent writes.
type lineSink struct {
	buf  []byte
	line func(string)
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		s.line(strings.TrimRight(string(s.buf[:i]), "\r"))
		s.buf = s.buf[i+1:]
	}
}

// Close hands on the last line if it had no newline.
func (s *lineSink) Close() error {
	if len(s.buf) > 0 {
		s.line(string(s.buf))
		s.buf = nil
	}
	return nil
}
