package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// ResticPackage is the Debian package that provides restic.
const ResticPackage = "restic"

// repo is one restic repository as tug drives it: restic's --json
// interface, the password through a pipe on descriptor 3 (never the
// command line or the environment), S3 keys in the child's environment
// only, and the cache under the state directory.
type repo struct {
	bin      string
	url      string // restic's -r
	password secret.Value
	env      []string // the child's extra environment (S3 keys)
	cacheDir string
	masker   func(string) string
}

// resticError is restic's own complaint: its stderr, masked.
type resticError struct {
	args   []string
	stderr string
	err    error
}

func (e *resticError) Error() string {
	msg := strings.TrimSpace(e.stderr)
	if msg == "" {
		msg = e.err.Error()
	}
	return fmt.Sprintf("restic %s: %s", e.args[0], lastLines(msg, 6))
}

func (e *resticError) Unwrap() error { return e.err }

// lastLines keeps the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// command builds a restic command: global flags first, then args. The
// caller sets Stdin/Stdout and starts it with start.
func (r *repo) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The password fits the pipe's buffer: write it and close, so restic
	// reads it whole whenever it opens /dev/fd/3.
	if _, err := pw.WriteString(r.password.Reveal()); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	argv := append([]string{"-r", r.url, "--password-file", "/dev/fd/3", "--cache-dir", r.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, r.bin, argv...)
	cmd.ExtraFiles = []*os.File{pr}
	cmd.Env = append(childEnv(), r.env...)
	cmd.SysProcAttr = childAttr()
	// restic stops cleanly on SIGINT (no snapshot is written); a second
	// chance to finish is not given.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// closeExtra closes the parent's copy of the password pipe once restic
// has started (or failed to).
func closeExtra(cmd *exec.Cmd) {
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
}

// run runs restic to the end and returns its stdout.
func (r *repo) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd, err := r.command(ctx, args...)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err = cmd.Run()
	closeExtra(cmd)
	if err != nil {
		return out.Bytes(), r.classify(args, errb.String(), err)
	}
	return out.Bytes(), nil
}

// classify turns restic's failure into tug's sentinels where it says
// something tug acts on.
func (r *repo) classify(args []string, stderr string, err error) error {
	stderr = r.mask(stderr)
	e := &resticError{args: args, stderr: stderr, err: err}
	switch {
	case strings.Contains(stderr, "wrong password or no key found"):
		return fmt.Errorf("%w: restic cannot open %s with this password (check the password secret; tug never creates a new repository over an existing one)", ErrWrongPassword, r.display())
	case strings.Contains(stderr, "Is there a repository at the following location?"):
		return fmt.Errorf("%w: %w", errNoRepository, e)
	case strings.Contains(stderr, "repository is already locked"):
		return fmt.Errorf("%w: %w", errRepoLocked, e)
	}
	return e
}

func (r *repo) mask(s string) string {
	if r.masker != nil {
		return r.masker(s)
	}
	return s
}

// display is the repository as messages name it (no credentials: tug's
// S3 URLs carry none).
func (r *repo) display() string { return r.url }

// errNoRepository: restic found no repository at the location.
var errNoRepository = errors.New("no repository")

// errRepoLocked: another restic holds the repository's lock.
var errRepoLocked = errors.New("repository locked")

// open checks that the repository exists and opens with the password,
// and removes its stale locks (of restic processes that died, such as
// those of a killed server; live ones stay) in the same restic run; with
// create, a missing one is initialised. An existing repository is never
// initialised again (restic itself refuses it too), and a wrong password
// is ErrWrongPassword.
func (r *repo) open(ctx context.Context, create bool) error {
	_, err := r.run(ctx, nil, "unlock")
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoRepository) {
		return err
	}
	if !create {
		return r.missing()
	}
	if _, err := r.run(ctx, nil, "init"); err != nil {
		return fmt.Errorf("creating the repository at %s: %w", r.display(), err)
	}
	return nil
}

// missing is the error of a repository not created yet.
func (r *repo) missing() error {
	return fmt.Errorf("%w: no repository at %s yet (the first backup creates it)", ErrNoSnapshot, r.display())
}

// snapshot is restic's JSON form of a snapshot.
type snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
}

// tag returns the value of the tag key:VALUE, or "".
func (s snapshot) tag(key string) string {
	for _, t := range s.Tags {
		if v, ok := strings.CutPrefix(t, key+":"); ok {
			return v
		}
	}
	return ""
}

// snapshots lists the snapshots carrying every tag of tags, oldest first.
func (r *repo) snapshots(ctx context.Context, tags ...string) ([]snapshot, error) {
	args := []string{"snapshots", "--json"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	out, err := r.run(ctx, nil, args...)
	if errors.Is(err, errNoRepository) {
		return nil, r.missing()
	}
	if err != nil {
		return nil, err
	}
	var snaps []snapshot
	if err := json.Unmarshal(out, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: %w", err)
	}
	return snaps, nil
}

// summary is the last line of `restic backup --json`.
type summary struct {
	MessageType         string  `json:"message_type"`
	SnapshotID          string  `json:"snapshot_id"`
	DataAdded           int64   `json:"data_added"`
	TotalBytesProcessed int64   `json:"total_bytes_processed"`
	TotalFilesProcessed int64   `json:"total_files_processed"`
	TotalDuration       float64 `json:"total_duration"`
}

// backupArgs are the arguments of `restic backup` for a snapshot taken
// at at with tags.
func backupArgs(at time.Time, tags []string) []string {
	args := []string{"backup", "--json", "--time", at.Local().Format("2006-01-02 15:04:05")}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	return args
}

// backupDir backs up the contents of dir (restored at the root of the
// snapshot).
func (r *repo) backupDir(ctx context.Context, dir string, at time.Time, tags []string) (summary, error) {
	cmd, err := r.command(ctx, append(backupArgs(at, tags), ".")...)
	if err != nil {
		return summary{}, err
	}
	cmd.Dir = dir
	return r.finishBackup(ctx, cmd)
}

// backupStream starts `restic backup --stdin`; the caller writes the
// data to the returned writer, then calls commit (the data is complete:
// the snapshot may be written) or abort (it is not: restic is stopped
// before it writes one).
func (r *repo) backupStream(ctx context.Context, filename string, at time.Time, tags []string) (*stream, error) {
	cmd, err := r.command(ctx, append(backupArgs(at, tags), "--stdin", "--stdin-filename", filename)...)
	if err != nil {
		return nil, err
	}
	w, err := cmd.StdinPipe()
	if err != nil {
		closeExtra(cmd)
		return nil, err
	}
	s := &stream{r: r, cmd: cmd, w: w, done: make(chan struct{})}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		closeExtra(cmd)
		return nil, fmt.Errorf("starting restic: %w", err)
	}
	closeExtra(cmd)
	go func() {
		s.err = cmd.Wait()
		s.out, s.stderr = out.Bytes(), errb.String()
		close(s.done)
	}()
	return s, nil
}

// stream is a `restic backup --stdin` in progress.
type stream struct {
	r      *repo
	cmd    *exec.Cmd
	w      io.WriteCloser
	done   chan struct{}
	err    error
	out    []byte
	stderr string
}

// Write feeds restic.
func (s *stream) Write(p []byte) (int, error) { return s.w.Write(p) }

// abort kills restic before it sees the end of its input, so it writes
// no snapshot; its lock is left stale and removed.
func (s *stream) abort(ctx context.Context) {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.w.Close()
	// The next open retries what fails here.
	_, _ = s.r.run(context.WithoutCancel(ctx), nil, "unlock")
}

// commit ends restic's input and waits for its snapshot.
func (s *stream) commit(ctx context.Context) (summary, error) {
	if err := s.w.Close(); err != nil {
		s.abort(ctx)
		return summary{}, err
	}
	<-s.done
	return s.r.parseBackup(ctx, s.err, s.out, s.stderr, []string{"backup"})
}

// finishBackup runs a backup command to its end.
func (r *repo) finishBackup(ctx context.Context, cmd *exec.Cmd) (summary, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	closeExtra(cmd)
	return r.parseBackup(ctx, err, out.Bytes(), errb.String(), []string{"backup"})
}

// parseBackup reads restic's summary. A snapshot restic wrote although
// it could not read everything (exit 3) is forgotten at once: no
// incomplete snapshot is ever left to look good.
func (r *repo) parseBackup(ctx context.Context, err error, out []byte, stderr string, args []string) (summary, error) {
	var sum summary
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var s summary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.MessageType == "summary" {
			sum = s
		}
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 && sum.SnapshotID != "" {
			if _, ferr := r.run(context.WithoutCancel(ctx), nil, "forget", sum.SnapshotID); ferr != nil {
				return summary{}, fmt.Errorf("restic could not read every file and wrote an incomplete snapshot %s that tug could not forget (forget it by hand): %w", sum.SnapshotID, ferr)
			}
			return summary{}, fmt.Errorf("restic could not read every file; the incomplete snapshot was forgotten: %w", r.classify(args, stderr, err))
		}
		return summary{}, r.classify(args, stderr, err)
	}
	if sum.SnapshotID == "" {
		return summary{}, fmt.Errorf("restic backup: no summary in its output")
	}
	return sum, nil
}

// dump streams one file of a snapshot to w.
func (r *repo) dump(ctx context.Context, id, file string, w io.Writer) error {
	cmd, err := r.command(ctx, "dump", id, file)
	if err != nil {
		return err
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &errb
	err = cmd.Run()
	closeExtra(cmd)
	if err != nil {
		return r.classify([]string{"dump"}, errb.String(), err)
	}
	return nil
}

// restore writes a snapshot's files into dir, checking their content
// against the snapshot as restic writes them.
func (r *repo) restore(ctx context.Context, id, dir string) error {
	_, err := r.run(ctx, nil, "restore", id, "--target", dir, "--verify")
	return err
}

// restoreSize is the size of a snapshot's files.
func (r *repo) restoreSize(ctx context.Context, id string) (int64, error) {
	out, err := r.run(ctx, nil, "stats", "--json", "--mode", "restore-size", id)
	if err != nil {
		return 0, err
	}
	var st struct {
		TotalSize int64 `json:"total_size"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, fmt.Errorf("restic stats: %w", err)
	}
	return st.TotalSize, nil
}

// forgetGroup is restic forget's JSON answer for one group.
type forgetGroup struct {
	Keep   []snapshot `json:"keep"`
	Remove []snapshot `json:"remove"`
}

// forget applies a retention policy to the snapshots carrying tags.
func (r *repo) forget(ctx context.Context, tags []string, daily, weekly, monthly, last int) ([]forgetGroup, error) {
	args := []string{"forget", "--json", "--group-by", "tags", "--tag", strings.Join(tags, ",")}
	for _, k := range []struct {
		flag string
		n    int
	}{{"--keep-daily", daily}, {"--keep-weekly", weekly}, {"--keep-monthly", monthly}, {"--keep-last", last}} {
		if k.n > 0 {
			args = append(args, k.flag, fmt.Sprint(k.n))
		}
	}
	out, err := r.run(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	var groups []forgetGroup
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &groups); err != nil {
			return nil, fmt.Errorf("restic forget: %w", err)
		}
	}
	return groups, nil
}

// forgetIDs forgets the given snapshots.
func (r *repo) forgetIDs(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := r.run(ctx, nil, append([]string{"forget"}, ids...)...)
	return err
}

// prune removes the data no snapshot needs any more.
func (r *repo) prune(ctx context.Context) error {
	_, err := r.run(ctx, nil, "prune")
	return err
}

// check verifies the repository's structure.
func (r *repo) check(ctx context.Context) error {
	_, err := r.run(ctx, nil, "check")
	return err
}
