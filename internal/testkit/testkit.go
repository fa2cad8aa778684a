// Package testkit holds the helpers tug's tests share: waiting on a
// condition, a goroutine-safe buffer, a free loopback address, a clock
// moved by hand, and the one table of the duration syntax. It is imported by _test.go files only and imports nothing
// internal, so any room may use it.
package testkit

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// DefaultWait is how long Eventually waits when given no limit: generous,
// because the machines running the suite are shared and small.
const DefaultWait = 20 * time.Second

// Eventually polls cond until it returns true, failing the test with what
// after limit (DefaultWait when limit is 0). It replaces sleeps: a test
// waits for the state it needs, never for a guessed time.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if limit <= 0 {
		limit = DefaultWait
	}
	if !Poll(limit, cond) {
		t.Fatalf("after %s still waiting for %s", limit, what)
	}
}

// Poll calls cond, backing off from 1ms to 50ms between calls, until it
// returns true (Poll returns true) or limit passes (false). For a test
// that reports the failure itself, with more context than Eventually's.
func Poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		if pause < 50*time.Millisecond {
			pause *= 2
		}
	}
	return true
}

// SyncBuffer is a bytes.Buffer safe for writers on other goroutines and a
// reader (a log sink, a command's output).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// Logger is a debug-level text logger writing into a SyncBuffer, so a
// test can read what was logged.
func Logger() (*slog.Logger, *SyncBuffer) {
	buf := &SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// FreeAddr returns a loopback address ("127.0.0.1:PORT") that was free a
// moment ago, for programs that must be told their address before they
// listen. Prefer listening on port 0 where the code under test allows it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Clock is a clock tests move by hand; its Now suits any `Now func()
// time.Time` option. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
