package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tugdev/tug/internal/runtime"
)

// DefaultRetention is how long lines are kept when the config says
// nothing (logs.retention).
const DefaultRetention = 7 * 24 * time.Hour

// Options configure a Logs.
type Options struct {
	// StateDir holds instances/<id>/output.log, the proxy's access-log
	// segments (proxy/access/) and the logs database (logs/logs.db).
	StateDir string
	Logger   *slog.Logger
	Now      func() time.Time
	// Instances lists the instances whose logs to collect. Instances with
	// a ContainerID are read through Since; the others from their log file.
	Instances func(ctx context.Context) ([]runtime.Instance, error)
	// Since returns an engine-logged (docker) instance's lines recorded at
	// or after since, with the engine's times (runtime.TimedLogs); nil
	// skips such instances.
	Since func(ctx context.Context, id string, since time.Time) ([]runtime.LogLine, error)
	// Retention is how long lines are kept (0: DefaultRetention).
	Retention time.Duration
	// Poll is how often files are read (0: 500ms); Instances is called and
	// engine logs are read every fourth poll.
	Poll time.Duration
	// PruneEvery is how often retention is enforced (0: 1m).
	PruneEvery time.Duration
}

// Logs ingests and serves log lines. Run does all writing; Search, Follow
// and Handler are safe for concurrent use while it runs.
type Logs struct {
	o   Options
	db  *sql.DB
	log *slog.Logger

	tugq    chan Line    // tug's own records, drained by Run
	dropped atomic.Int64 // tug records dropped because the queue was full
	// retention is how long lines are kept, in nanoseconds; SetRetention
	// changes it while Run runs.
	retention atomic.Int64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every commit with lines

	// Run's own state.
	ins     []runtime.Instance // listed every fourth poll
	listed  bool
	sources map[string]*source
	// engineAt is, per instance read through Since, the time of the last
	// line stored.
	engineAt map[string]time.Time
}

// New opens (creating) the logs database in StateDir/logs and loads the
// tail positions of earlier runs. Close releases it.
func New(ctx context.Context, o Options) (*Logs, error) {
	if o.StateDir == "" {
		return nil, errors.New("logs: no state directory")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Minute
	}
	db, err := openDB(ctx, filepath.Join(o.StateDir, "logs"))
	if err != nil {
		return nil, err
	}
	srcs, err := loadSources(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("logs: load offsets: %w", err)
	}
	l := &Logs{
		o: o, db: db, log: o.Logger,
		tugq:     make(chan Line, 4096),
		changed:  make(chan struct{}),
		sources:  srcs,
		engineAt: map[string]time.Time{},
	}
	l.retention.Store(int64(o.Retention))
	return l, nil
}

// SetRetention changes how long lines are kept (0: DefaultRetention), from
// the next pruning on. Safe to call while Run runs.
func (l *Logs) SetRetention(d time.Duration) {
	if d <= 0 {
		d = DefaultRetention
	}
	l.retention.Store(int64(d))
}

// Retention is how long lines are kept.
func (l *Logs) Retention() time.Duration { return time.Duration(l.retention.Load()) }

// Close closes the database; call it after Run has returned.
func (l *Logs) Close() error { return l.db.Close() }

// Run ingests until ctx ends: files every Poll, tug's records as they
// come, retention every PruneEvery. Call it once.
func (l *Logs) Run(ctx context.Context) error {
	poll := time.NewTicker(l.o.Poll)
	defer poll.Stop()
	pruneT := time.NewTicker(l.o.PruneEvery)
	defer pruneT.Stop()
	l.prune(ctx)
	for turn := 0; ; turn++ {
		l.step(ctx, turn%4 == 0)
		select {
		case <-ctx.Done():
			l.flushTug(context.WithoutCancel(ctx))
			return nil
		case <-poll.C:
		case <-pruneT.C:
			l.prune(ctx)
		}
	}
}

// step reads every source once and commits what it found. With engine
// set it also lists the instances again and reads engine tails.
func (l *Logs) step(ctx context.Context, engine bool) {
	if (engine || !l.listed) && l.o.Instances != nil {
		ins, err := l.o.Instances(ctx)
		if err != nil && ctx.Err() == nil {
			l.log.Warn("logs: list instances failed", "err", err)
		}
		if err == nil || len(ins) > 0 {
			l.ins, l.listed = ins, true
		}
	}
	var lines []Line
	var polled []*source
	now := l.o.Now().UTC()
	for _, s := range l.fileSources(ctx) {
		texts, err := s.poll()
		if err != nil {
			l.log.Warn("logs: read failed", "path", s.path, "err", err)
			continue
		}
		if s.next == s.pos && len(texts) == 0 && s.known {
			continue
		}
		polled = append(polled, s)
		for _, t := range texts {
			lines = append(lines, s.line(t, now))
		}
	}
	if engine {
		lines = append(lines, l.engineLines(ctx, now)...)
	}
	lines = append(lines, l.drainTug()...)
	if len(lines) == 0 && len(polled) == 0 {
		return
	}
	if err := commit(ctx, l.db, lines, polled); err != nil {
		if ctx.Err() == nil {
			l.log.Warn("logs: store failed", "err", err)
		}
		return // positions stay: the same bytes are read again next poll
	}
	for _, s := range polled {
		s.pos = s.next
	}
	if len(lines) > 0 {
		l.notify()
	}
}

func (l *Logs) flushTug(ctx context.Context) {
	if lines := l.drainTug(); len(lines) > 0 {
		if err := commit(ctx, l.db, lines, nil); err == nil {
			l.notify()
		}
	}
}

func (l *Logs) drainTug() []Line {
	var out []Line
	for {
		select {
		case ln := <-l.tugq:
			out = append(out, ln)
		default:
			return out
		}
	}
}

func (l *Logs) notify() {
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *Logs) waitChange() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// fileSources returns every listed process instance's log file and every
// file already being tailed (an instance that is gone still gets its last
// lines read).
func (l *Logs) fileSources(ctx context.Context) []*source {
	add := func(path string, attr Line) {
		if s, ok := l.sources[path]; ok {
			if attr.Service != "" {
				s.attr = attr
			}
			return
		}
		l.sources[path] = &source{path: path, attr: attr}
	}
	for _, in := range l.ins {
		if in.ContainerID != "" {
			continue
		}
		add(filepath.Join(l.o.StateDir, "instances", in.ID, "output.log"), Line{
			Service: in.Service, Environment: in.Environment, Release: in.Release, Instance: in.ID, Stream: StreamStdout,
		})
	}
	out := make([]*source, 0, len(l.sources))
	for p, s := range l.sources {
		if s.attr.Stream == StreamAccess {
			continue // access logs are read at query time (access.go)
		}
		if s.attr.Stream == StreamStdout {
			if _, err := os.Stat(filepath.Dir(p)); err != nil {
				delete(l.sources, p) // instance removed; its row stays harmless
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// line attributes one text read from s.
func (s *source) line(text string, now time.Time) Line {
	ln := s.attr
	ln.Time, ln.Text = now, text
	return ln
}

// prune enforces retention.
func (l *Logs) prune(ctx context.Context) {
	n, err := prune(ctx, l.db, l.o.Now().Add(-l.Retention()))
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("logs: retention failed", "err", err)
		}
		return
	}
	if n > 0 {
		l.log.Debug("logs: retention deleted lines", "lines", n, "retention", l.Retention())
	}
	if n, err := pruneAccess(accessDir(l.o.StateDir), l.o.Now().Add(-l.o.Retention)); err != nil {
		l.log.Warn("logs: access-log retention failed", "err", err)
	} else if n > 0 {
		l.log.Debug("logs: retention deleted access-log segments", "segments", n, "retention", l.o.Retention)
	}
}

// Search returns the newest q.Limit matching lines, oldest first.
func (l *Logs) Search(ctx context.Context, q Query) ([]Line, error) {
	if q.Service == "" {
		return nil, fmt.Errorf("%w: service: required", ErrBadQuery)
	}
	stored, err := search(ctx, l.db, q, true)
	if err != nil || q.Service == ServiceTug {
		return stored, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	access, err := searchAccess(accessDir(l.o.StateDir), &q, limit)
	if err != nil {
		return nil, fmt.Errorf("logs: access log: %w", err)
	}
	return mergeNewest(stored, access, limit), nil
}

// Follow calls each with the lines matching q stored after the call
// started (after q.After when positive; from the first line when
// negative), in order, until ctx ends (nil) or
// each fails (its error).
func (l *Logs) Follow(ctx context.Context, q Query, each func(Line) error) error {
	if q.Service == "" {
		return fmt.Errorf("%w: service: required", ErrBadQuery)
	}
	if q.After == 0 {
		top, err := l.top(ctx)
		if err != nil {
			return err
		}
		q.After = top
		if q.afterAccess, err = accessEnd(accessDir(l.o.StateDir)); err != nil {
			return err
		}
	}
	// The access log is read by polling its files; stored lines come on
	// a commit's notice.
	tick := time.NewTicker(l.o.Poll)
	defer tick.Stop()
	for {
		wait := l.waitChange()
		top, err := l.top(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if top > q.After {
			q.until = top
			lines, err := search(ctx, l.db, q, false)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, ln := range lines {
				if err := each(ln); err != nil {
					return err
				}
			}
			q.After = top
		}
		if q.Service != ServiceTug {
			if q.afterAccess, err = followAccess(accessDir(l.o.StateDir), &q, q.afterAccess, each); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wait:
		case <-tick.C:
		}
	}
}

// top is the newest line's ID (0 when empty).
func (l *Logs) top(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := l.db.QueryRowContext(ctx, `SELECT MAX(id) FROM lines`).Scan(&id)
	return id.Int64, err
}
