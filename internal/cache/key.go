package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tugdev/tug/internal/pipeline"
)

// keyVersion changes whenever the key description changes meaning, so old
// entries stop matching instead of matching wrongly.
const keyVersion = 1

// KeyManifest is the description a cache key is the hash of, one component
// per field, so a miss can say which component changed. It holds hashes of
// values, never the values of env variables or secrets.
type KeyManifest struct {
	Version int `json:"version"`
	// Job is the config job name; Matrix the instance's axis values.
	Job    string            `json:"job"`
	Matrix map[string]string `json:"matrix,omitempty"`
	// Script is the SHA-256 of the script.
	Script  string `json:"script"`
	Image   string `json:"image,omitempty"`
	ImageID string `json:"image_id,omitempty"`
	// Declared is the SHA-256 of the inputs, artifacts and reports patterns.
	Declared string `json:"declared"`
	// Env maps each variable to the SHA-256 of its value.
	Env map[string]string `json:"env,omitempty"`
	// Secrets maps each secret to a hash of the hash the engine gave.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Files maps each input file to the SHA-256 of its content (of its
	// target path for a symlink).
	Files map[string]string `json:"files"`
	// Upstream maps each needed job instance to its key.
	Upstream map[string]string `json:"upstream,omitempty"`
}

// Key computes the cache key of a job instance: the SHA-256 of its
// KeyManifest. It reads (and hashes) every input file, in parallel.
func (c *Cache) Key(ctx context.Context, req *pipeline.CacheRequest) (string, *KeyManifest, error) {
	if err := checkRequest(req); err != nil {
		return "", nil, err
	}
	j := req.Job
	m := &KeyManifest{
		Version:  keyVersion,
		Job:      j.Base,
		Matrix:   copyMap(j.Matrix),
		Script:   hashString(j.Script),
		Image:    j.Image,
		ImageID:  req.ImageID,
		Declared: hashDeclared(j),
		Files:    map[string]string{},
		Upstream: copyMap(req.Upstream),
	}
	if m.Job == "" {
		m.Job = j.Name
	}
	if len(j.Env) > 0 {
		m.Env = make(map[string]string, len(j.Env))
		for k, v := range j.Env {
			m.Env[k] = hashString(v)
		}
	}
	if len(req.SecretHashes) > 0 {
		m.Secrets = make(map[string]string, len(req.SecretHashes))
		for k, h := range req.SecretHashes {
			m.Secrets[k] = hashString("tug-secret\x00" + k + "\x00" + h)
		}
	}
	var inputs []string
	if j.Config != nil {
		inputs = j.Config.Inputs
	}
	files, err := expand(newWorkspaceFS(req.Dir, c.stateDir), req.Dir, inputs)
	if err != nil {
		return "", nil, fmt.Errorf("job %s: inputs: %w", j.Name, err)
	}
	files = withoutOutputs(files, outputPatterns(j))
	hashes, err := c.hashFiles(ctx, req.Dir, files)
	if err != nil {
		return "", nil, fmt.Errorf("job %s: inputs: %w", j.Name, err)
	}
	for i, f := range files {
		m.Files[f.Path] = hashes[i]
	}
	key, err := m.key()
	if err != nil {
		return "", nil, err
	}
	return key, m, nil
}

// key hashes the manifest's canonical JSON (struct order, sorted map keys).
func (m *KeyManifest) key() (string, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.WriteString(h, "tug-cache-key\n")
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFiles hashes files on the cache's bounded worker pool; out[i] is
// the hash of files[i]. Files the stat cache vouches for are only
// stat'ed.
func (c *Cache) hashFiles(ctx context.Context, dir string, files []match) ([]string, error) {
	out := make([]string, len(files))
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		var (
			st     fileStat
			statOK bool
			before int64
		)
		if f.Kind == kindFile {
			tb := c.fileClock.now()
			fi, err := os.Lstat(p)
			if err != nil {
				fail(err)
				break
			}
			if st, statOK = statOf(fi); statOK && fi.Mode().IsRegular() {
				before = tb.limit(st.Dev)
				if h, ok := c.stat.lookup(p, st); ok {
					out[i] = h
					continue
				}
			}
		}
		select {
		case c.hashSem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-c.hashSem; wg.Done() }()
			h, err := c.hash.workspaceFile(p, f.Kind)
			if err != nil {
				fail(err)
				return
			}
			if statOK {
				c.stat.record(p, st, before, h)
			}
			out[i] = h
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, ctx.Err()
}

func (hs *hasher) workspaceFile(p string, kind fileKind) (string, error) {
	if kind == kindSymlink {
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		return hashString("symlink\x00" + filepath.ToSlash(target)), nil
	}
	h, _, err := hs.file(p)
	return h, err
}

// hasher hashes files with reused read buffers: the hot path of an
// unchanged rerun reads many small files.
type hasher struct{ bufs sync.Pool }

func newHasher() *hasher {
	return &hasher{bufs: sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}}
}

// file returns the SHA-256 and size of a file's content.
func (hs *hasher) file(p string) (string, int64, error) {
	bp := hs.bufs.Get().(*[]byte)
	defer hs.bufs.Put(bp)
	h := sha256.New()
	n, err := readInto(p, *bp, h)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// reader returns the SHA-256 and size of what r holds.
func (hs *hasher) reader(r io.Reader) (string, int64, error) {
	bp := hs.bufs.Get().(*[]byte)
	defer hs.bufs.Put(bp)
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, *bp)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// hashDeclared covers the patterns that decide what a job reads and what
// is kept of it: changing them must not reuse an entry.
func hashDeclared(j *pipeline.Job) string {
	if j.Config == nil {
		return hashString("")
	}
	d := struct {
		Inputs    []string `json:"inputs"`
		Artifacts []string `json:"artifacts"`
		Reports   []string `json:"reports"`
	}{j.Config.Inputs, j.Config.Artifacts, reportPatterns(j)}
	data, _ := json.Marshal(d)
	return hashString(string(data))
}

// outputPatterns are what a job keeps of a run: artifacts and reports.
func outputPatterns(j *pipeline.Job) []string {
	if j.Config == nil {
		return nil
	}
	return append(append([]string(nil), j.Config.Artifacts...), reportPatterns(j)...)
}

// withoutOutputs drops a job's own outputs from its inputs: with broad
// inputs ("**") a first run would otherwise change its own key by
// producing them.
func withoutOutputs(files []match, outputs []string) []match {
	if len(outputs) == 0 {
		return files
	}
	out := files[:0]
	for _, f := range files {
		if !matchesAny(outputs, f.Path) {
			out = append(out, f)
		}
	}
	return out
}

// matchesAny reports whether p is selected by one of the patterns, as a
// file or as a file under a selected directory.
func matchesAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		pat = strings.TrimPrefix(path.Clean(pat), "./")
		if ok, _ := doublestar.Match(pat, p); ok {
			return true
		}
		if ok, _ := doublestar.Match(pat+"/**", p); ok {
			return true
		}
	}
	return false
}

// reportPatterns are the test report files of a job: kept with its
// artifacts so a cache hit can still summarise them.
func reportPatterns(j *pipeline.Job) []string {
	if j.Config == nil || j.Config.Reports == nil {
		return nil
	}
	out := append([]string(nil), j.Config.Reports.JUnit...)
	if j.Config.Reports.Coverage != "" {
		out = append(out, j.Config.Reports.Coverage)
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
