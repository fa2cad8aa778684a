package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
)

// configSource holds the config in force and replaces it only with a
// file that loads and validates cleanly: a bad file never replaces the
// running config. It implements api.ConfigSource.
type configSource struct {
	path      string
	lookupEnv func(string) (string, bool)
	now       func() time.Time
	log       *slog.Logger
	// check refuses, with positioned errors, what the rooms would refuse
	// beyond the loader's rules, and returns warnings (see Check); nil
	// checks nothing more.
	check func(*config.Config) (config.Errors, error)
	// onChange is called with each new valid config before it is in
	// force, under the source's lock (so calls are serialized). An error
	// means the rooms did not all take it: the config in force stays, and
	// Apply returns the error.
	onChange func(*config.Config) error
	// counted, when set, records each reload's result ("applied",
	// "unchanged", "invalid", "error").
	counted func(result string)
	// record, when set, writes a reload that changed the config, or
	// failed to, to the audit log when it did not come through the API
	// (which records its own calls).
	record func(context.Context, audit.Record) error

	mu  sync.Mutex // serializes Apply
	cur api.ConfigSnapshot
	// boot is the config the server started with: keys that need a
	// restart are compared against it, so they are reported until the
	// restart, whoever applied the change (tug apply or the file watch).
	boot *config.Config
	rw   sync.RWMutex // guards cur for readers
}

var _ api.ConfigSource = (*configSource)(nil)

// load reads, hashes and validates the file without installing it.
func (s *configSource) load() (api.ConfigSnapshot, error) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return api.ConfigSnapshot{}, fmt.Errorf("read config: %w", err)
	}
	sum := sha256.Sum256(data)
	cfg, err := config.Parse(s.path, data, config.LoadOptions{LookupEnv: s.lookupEnv})
	if err != nil {
		return api.ConfigSnapshot{}, err
	}
	var warnings config.Errors
	if s.check != nil {
		if warnings, err = s.check(cfg); err != nil {
			return api.ConfigSnapshot{}, err
		}
	}
	return api.ConfigSnapshot{Config: cfg, Source: data, LoadedAt: s.now(), Hash: hex.EncodeToString(sum[:]), Warnings: warnings}, nil
}

// init loads the first config; an invalid file stops the server's start.
func (s *configSource) init() error {
	snap, err := s.load()
	if err != nil {
		return err
	}
	s.rw.Lock()
	s.cur = snap
	s.boot = snap.Config
	s.rw.Unlock()
	return nil
}

// Current is the config in force.
func (s *configSource) Current() api.ConfigSnapshot {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.cur
}

// Apply re-reads the file; see api.ConfigSource.
func (s *configSource) Apply(ctx context.Context) (api.ConfigSnapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.Current()
	next, err := s.load()
	if err != nil {
		result := "error"
		if errors.Is(err, config.ErrInvalid) {
			result = "invalid"
		}
		s.count(result)
		return cur, false, err
	}
	if next.Hash == cur.Hash {
		s.count("unchanged")
		return cur, false, nil
	}
	next.Restart = config.RestartNeeded(s.boot, next.Config)
	if s.onChange != nil {
		if err := s.onChange(next.Config); err != nil {
			s.count("error")
			err = fmt.Errorf("%w: %w", api.ErrNotApplied, err)
			s.audit(ctx, next, err)
			return cur, false, err
		}
	}
	s.audit(ctx, next, nil)
	s.rw.Lock()
	s.cur = next
	s.rw.Unlock()
	s.count("applied")
	s.log.Info("config applied", "file", s.path, "hash", next.Hash[:12])
	for _, w := range next.Warnings {
		s.log.Warn("config warning", "at", w.Error())
	}
	for _, r := range next.Restart {
		s.log.Warn("config key changed but needs a restart", "key", r.Key, "why", r.Reason)
	}
	return next, true, nil
}

// audit names an applied (or not applied) file as the target of the API
// call that applied it, or records an apply the server made on its own
// (the file changed on disk).
func (s *configSource) audit(ctx context.Context, next api.ConfigSnapshot, err error) {
	target := s.path + "@" + next.Hash[:12]
	if audit.CallOf(ctx) != nil {
		audit.SetTarget(ctx, target)
		return
	}
	if s.record == nil {
		return
	}
	rec := audit.Record{Actor: "tug", Action: "config.apply", Target: target, Outcome: audit.OK, Detail: "the file changed on disk"}
	if err != nil {
		rec.Outcome, rec.Detail = audit.Failed, "the file changed on disk; not applied: "+err.Error()
	}
	if rerr := s.record(ctx, rec); rerr != nil {
		s.log.Error("audit: recording a config apply", "err", rerr)
	}
}

func (s *configSource) count(result string) {
	if s.counted != nil {
		s.counted(result)
	}
}
