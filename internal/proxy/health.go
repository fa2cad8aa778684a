package proxy

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Defaults for a HealthCheck that leaves Interval or Timeout zero.
const (
	defaultHealthInterval = 2 * time.Second
	defaultHealthTimeout  = time.Second
)

// checkHealth sets b's health from the route's active check, restarting the
// prober when the check changed. A backend without a check is healthy.
// Called with the server's backend lock held.
func (s *Server) checkHealth(b *backend, hc *HealthCheck) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var want HealthCheck
	if hc != nil {
		want = *hc
	}
	if b.stop != nil && want == b.health {
		return
	}
	if b.stop != nil {
		b.stop()
		b.stop = nil
	}
	b.health = want
	if hc == nil {
		b.healthy.Store(true)
		b.served.Store(true)
		return
	}
	ctx, cancel := context.WithCancel(s.baseCtx)
	done := make(chan struct{})
	b.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		s.probeLoop(ctx, b, want)
	}()
}

// stopHealth ends b's prober, if any, and waits for it.
func stopHealth(b *backend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop != nil {
		b.stop()
		b.stop = nil
	}
}

func (s *Server) probeLoop(ctx context.Context, b *backend, hc HealthCheck) {
	interval, timeout := hc.Interval, hc.Timeout
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	url := "http://" + b.addr + hc.Path
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok := s.probe(ctx, url, timeout)
		if ctx.Err() != nil {
			return
		}
		if ok {
			b.served.Store(true)
		}
		if was := b.healthy.Swap(ok); was != ok {
			s.log.Info("proxy backend health changed", "service", b.service, "environment", b.env,
				"release", b.release, "instance", b.instance, "addr", b.addr, "healthy", ok)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe is one check: 2xx or 3xx within timeout.
func (s *Server) probe(ctx context.Context, url string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "tug-proxy-health")
	resp, err := s.healthClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
