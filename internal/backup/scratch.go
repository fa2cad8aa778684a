package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// scratchUser is the account a scratch PostgreSQL runs as when tug runs
// as root (PostgreSQL refuses to run as root): Debian's postgres user.
const scratchUser = "postgres"

// ScratchSuperuser is the superuser of a scratch cluster tug initialises.
const ScratchSuperuser = "tug"

// cluster is a throwaway PostgreSQL: its own data directory in a
// temporary directory, a unix socket in that directory (trust, reachable
// only by the directory's owner) and a free loopback port (password
// only). A marker under the state directory, held locked while it runs,
// lets the next start remove one a killed process left behind.
type cluster struct {
	m        *Manager
	dir      string
	data     string
	sock     string
	port     int
	user     string // the role tug connects as
	password string
	cred     *syscall.Credential
	marker   string
	lock     *kit.FileLock
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
}

// scratchMarker is what the marker file records.
type scratchMarker struct {
	Dir     string    `json:"dir"`
	Purpose string    `json:"purpose"`
	Started time.Time `json:"started"`
	PID     int       `json:"pid"`
}

// newScratch makes a scratch place: a temporary directory (owned by the
// postgres user when tug is root) and its marker.
func (m *Manager) newScratch(purpose string) (*cluster, error) {
	c := &cluster{m: m, user: ScratchSuperuser}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(scratchUser)
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, a scratch PostgreSQL needs the %s user (Debian's postgresql package makes it)", ErrNoPostgres, scratchUser)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := os.MkdirAll(m.dir("scratch"), 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tug-scratch-")
	if err != nil {
		return nil, err
	}
	c.dir, c.data, c.sock = dir, filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	id := filepath.Base(dir)
	c.marker = m.dir("scratch", id+".json")
	l, err := kit.TryLockFile(m.dir("scratch", id+".lock"), true)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.lock = l
	b, _ := json.Marshal(scratchMarker{Dir: dir, Purpose: purpose, Started: m.o.Now(), PID: os.Getpid()})
	if err := kit.WriteFile(c.marker, b, 0o600); err != nil {
		c.remove()
		return nil, err
	}
	if err := os.MkdirAll(c.sock, 0o700); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.chown(dir); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// chown gives p to the scratch user (when tug is root).
func (c *cluster) chown(p string) error {
	if c.cred == nil {
		return nil
	}
	return filepath.WalkDir(p, func(q string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(q, int(c.cred.Uid), int(c.cred.Gid))
	})
}

// pgCmd is one of PostgreSQL's server programs run as the scratch user.
func (c *cluster) pgCmd(ctx context.Context, prog string, args ...string) (*exec.Cmd, error) {
	p, err := c.m.pgBin(prog)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(childEnv(), "LC_ALL=C")
	cmd.Dir = c.dir
	attr := childAttr()
	attr.Credential = c.cred
	cmd.SysProcAttr = attr
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// initdb makes a new cluster whose superuser is tug: trust on the
// private socket, a random password over TCP.
func (c *cluster) initdb(ctx context.Context) error {
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	c.password = hex.EncodeToString(pw)
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := c.chown(pwfile); err != nil {
		return err
	}
	cmd, err := c.pgCmd(ctx, "initdb", "-D", c.data, "-U", ScratchSuperuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 6))
	}
	return nil
}

// template is an initialised data directory, never started, that
// scratch clusters copy: initdb runs a dozen PostgreSQL processes one
// after the other, most of a small restore test's time. It is made once
// per initdb binary (another PostgreSQL version makes a new one), under
// a lock, in the state directory (which tug's own state backup leaves
// out).
func (m *Manager) template(ctx context.Context) (string, error) {
	initdb, err := m.pgBin("initdb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(m.dir(), 0o700); err != nil {
		return "", err
	}
	l, err := kit.LockFile(ctx, m.dir("pgtemplate.lock"), true)
	if err != nil {
		return "", err
	}
	defer l.Unlock()
	dir, stamp := m.dir("pgtemplate"), m.dir("pgtemplate", "initdb")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == initdb {
		return filepath.Join(dir, "data"), nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	cl, err := m.newScratch("the scratch clusters' template")
	if err != nil {
		return "", err
	}
	defer cl.remove()
	if err := cl.initdb(ctx); err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := copyTree(cl.data, filepath.Join(tmp, "data")); err != nil {
		return "", err
	}
	// The stamp last: a template without one is made again.
	if err := kit.WriteFile(filepath.Join(tmp, "initdb"), []byte(initdb), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "data"), nil
}

// fromTemplate makes the cluster's data directory a copy of the template,
// starts it and gives its superuser a password of its own (through
// psql's input, never its arguments).
func (c *cluster) fromTemplate(ctx context.Context, tpl string) error {
	if err := copyTree(tpl, c.data); err != nil {
		return err
	}
	if err := c.chown(c.data); err != nil {
		return err
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	c.password = hex.EncodeToString(pw)
	if _, err := c.m.psql(ctx, c.conn("postgres"), fmt.Sprintf("alter role %s password '%s'", ScratchSuperuser, c.password)); err != nil {
		// psql's message would quote the statement, password included.
		return errors.New("setting the scratch PostgreSQL's password failed")
	}
	return nil
}

// writeHBA gives a restored data directory (a base backup, whose own
// pg_hba.conf is production's) the scratch cluster's access rules.
func (c *cluster) writeHBA() (string, error) {
	p := filepath.Join(c.dir, "pg_hba.conf")
	rules := "local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(p, []byte(rules), 0o600); err != nil {
		return "", err
	}
	return p, c.chown(p)
}

// start runs postgres on a free loopback port and waits until it
// accepts connections. settings are extra -c name=value options.
func (c *cluster) start(ctx context.Context, settings ...string) error {
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.port = port
		lastErr = c.startOn(ctx, settings)
		if lastErr == nil {
			return nil
		}
		if !strings.Contains(lastErr.Error(), "could not bind") && !strings.Contains(lastErr.Error(), "could not create any TCP/IP sockets") {
			return lastErr
		}
	}
	return lastErr
}

func (c *cluster) startOn(ctx context.Context, settings []string) error {
	args := []string{"-D", c.data, "-p", strconv.Itoa(c.port), "-k", c.sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "logging_collector=off", "-c", "archive_mode=off",
		"-c", "max_wal_senders=0", "-c", "wal_level=minimal", "-c", "shared_preload_libraries="}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	logPath := filepath.Join(c.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// The server outlives this call's ctx: stop ends it.
	cmd, err := c.pgCmd(context.WithoutCancel(ctx), "postgres", args...)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	deadline := time.Now().Add(30 * time.Minute) // a recovery replays WAL first
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		select {
		case <-c.exited:
			log, _ := os.ReadFile(logPath)
			c.cmd = nil
			return fmt.Errorf("the scratch PostgreSQL exited (%v): %s", c.waitErr, lastLines(string(log), 8))
		case <-ctx.Done():
			c.stop()
			return context.Cause(ctx)
		case <-time.After(delay):
		}
		if c.ready(ctx) {
			return nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return errors.New("the scratch PostgreSQL did not accept connections within 30 minutes")
		}
	}
}

// ready says whether the server accepts connections.
func (c *cluster) ready(ctx context.Context) bool {
	p, err := c.m.pgBin("pg_isready")
	if err != nil {
		_, err := os.Stat(filepath.Join(c.sock, fmt.Sprintf(".s.PGSQL.%d", c.port)))
		return err == nil
	}
	cmd := exec.CommandContext(ctx, p, "-q", "-h", c.sock, "-p", strconv.Itoa(c.port), "-U", c.user, "-d", "postgres")
	cmd.Env = childEnv()
	return cmd.Run() == nil
}

// conn connects to db through the private socket, as the cluster's
// superuser.
func (c *cluster) conn(db string) pgConn {
	pc := pgConn{host: c.sock, port: strconv.Itoa(c.port), user: c.user, dbname: db}
	pc.env = []string{"PGHOST=" + c.sock, "PGPORT=" + pc.port, "PGUSER=" + c.user, "PGDATABASE=" + db}
	return pc
}

// URL is a TCP URL of db on the scratch cluster, with its password (for
// services in a drill).
func (c *cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", c.user, c.password, c.port, db)
}

// stop shuts the server down (fast, then killed) and removes the
// scratch place.
func (c *cluster) stop() {
	if c.cmd != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		c.cmd = nil
	}
	c.remove()
}

// remove deletes the scratch directory and its marker.
func (c *cluster) remove() {
	os.RemoveAll(c.dir)
	os.Remove(c.marker)
	if c.lock != nil {
		os.Remove(strings.TrimSuffix(c.marker, ".json") + ".lock")
		c.lock.Unlock()
		c.lock = nil
	}
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// CleanScratch removes what a killed tug left behind: scratch clusters
// whose owner is gone (their marker's lock is free) are killed and their
// directories removed. Those of live processes are left alone. It
// returns how many it removed.
func (m *Manager) CleanScratch() (int, error) {
	markers, err := filepath.Glob(m.dir("scratch", "*.json"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, mk := range markers {
		lockPath := strings.TrimSuffix(mk, ".json") + ".lock"
		l, err := kit.TryLockFile(lockPath, true)
		if err != nil {
			continue // its owner runs
		}
		var sm scratchMarker
		if b, err := os.ReadFile(mk); err == nil && json.Unmarshal(b, &sm) == nil && sm.Dir != "" &&
			strings.HasPrefix(filepath.Base(sm.Dir), "tug-scratch-") {
			killPostmaster(filepath.Join(sm.Dir, "data"))
			os.RemoveAll(sm.Dir)
		}
		os.Remove(mk)
		os.Remove(lockPath)
		l.Unlock()
		n++
	}
	return n, nil
}

// killPostmaster kills the postgres whose data directory is data, if it
// still runs (postmaster.pid's first line names it).
func killPostmaster(data string) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 || !kit.Alive(pid) {
		return
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && !strings.Contains(string(cmdline), "postgres") {
		return // the pid was reused by another program
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && kit.Alive(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}
