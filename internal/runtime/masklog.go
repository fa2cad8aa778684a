package runtime

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/tugdev/tug/internal/secret"
)

// A process instance with secrets does not write its output straight into
// its log file: it writes into a pipe read by a masking writer, a small
// process of tug's own (`tug mask-log`) that hides the instance's secret
// values (and their encodings) and appends the rest to the log file.
//
// Why a process, and not the server reading the pipe: instances outlive
// the server (they keep running, and logging, while it stops, crashes or
// is upgraded), and a pipe whose reader died would fail the instance's
// next write. The masking writer lives exactly as long as the instance:
// it is started with each spawn, in its own process group (a signal to
// the instance's group, or to the server's terminal, does not reach it),
// ignores the signals that would end it early, and exits when its input
// ends, that is when every process of the instance has closed its output.
// So an adopting server has nothing to adopt, a restart brings a new
// writer, and the log file stays the one the logs room tails and rotation
// copy-truncates. It gets the secret values through a pipe of their own
// (never argv, environment or a file), so none lands on disk.
//
// Instances without secrets write straight into the file, as before: no
// extra process.

// MaskLogCommand is the tug subcommand of the masking writer:
// `tug mask-log INSTANCE` reads the secret values (base64, one a line)
// from file descriptor 3, then copies its standard input to its standard
// output, masked (see MaskLog).
const MaskLogCommand = "mask-log"

// RunMaskLog is the masking writer process: MaskLog from file descriptor
// 3 and standard input to standard output. It ignores SIGINT, SIGTERM and
// SIGHUP: it must outlast the instance, and ends with its input.
func RunMaskLog() error {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	secrets := os.NewFile(3, "secrets")
	if secrets == nil {
		return errors.New("no secrets on file descriptor 3")
	}
	defer secrets.Close()
	return MaskLog(secrets, os.Stdin, os.Stdout)
}

// MaskLog is the masking writer's work: it reads secret values (base64,
// one a line) from secrets until EOF, then copies in to out with every
// occurrence of them, however encoded (see secret.Masker), masked, until
// in ends. A line is written once complete, so a value split across
// writes is still hidden; what is left without a newline goes out at the
// end.
func MaskLog(secrets, in io.Reader, out io.Writer) error {
	var vals []secret.Value
	sc := bufio.NewScanner(secrets)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		v, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil {
			return fmt.Errorf("secret %d: not base64", n) // never the value
		}
		vals = append(vals, secret.New(string(v)))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read secrets: %w", err)
	}
	m, _ := secret.NewMasker(vals...)
	w := m.Writer(out)
	_, err := io.Copy(w, in)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// output opens what an instance's process writes its stdout and stderr
// to: its log file or, when it has secrets and a masking writer is
// configured, a pipe into a masking writer started for it. The caller
// hands the file to the process and closes its own copy.
func (p *Process) output(id string, secrets map[string]secret.Value) (*os.File, error) {
	logf, err := openLog(filepath.Join(p.instDir(id), logName))
	if err != nil || len(secrets) == 0 || len(p.opts.MaskLog) == 0 {
		return logf, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	sr, sw, err := os.Pipe()
	if err != nil {
		pw.Close()
		return nil, err
	}
	defer sr.Close()
	argv := append(slices.Clone(p.opts.MaskLog), id)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, logf, logf
	cmd.ExtraFiles = []*os.File{sr}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=50")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		sw.Close()
		return nil, fmt.Errorf("start the masking writer: %w", err)
	}
	// Reaps it (after the instance's output ended), even after Close.
	go cmd.Wait()
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		b = base64.StdEncoding.AppendEncode(b, []byte(secrets[k].Reveal()))
		b = append(b, '\n')
	}
	// A pipe holds 64 KiB: write the rest while the writer reads.
	go func() {
		if _, err := sw.Write(b); err != nil && !errors.Is(err, syscall.EPIPE) {
			p.log.Warn("hand secrets to the masking writer", "instance", id, "err", err)
		}
		sw.Close()
	}()
	return pw, nil
}
