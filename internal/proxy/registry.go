package proxy

import (
	"fmt"
)

// apply installs t: it builds the new routing, reusing the state of
// backends that stay, creating new ones (unhealthy until their first check
// passes unless restored is set, see below), and drains the ones that left.
//
// restored marks a table read back from disk at startup: its backends are
// assumed healthy until a check fails, so a proxy restart never routes to
// nothing while the first checks run.
func (s *Server) apply(t *Table, restored bool) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if cur := s.routing.Load(); cur != nil && t.Version < cur.table.Version {
		return fmt.Errorf("%w: have %d, got %d", ErrStale, cur.table.Version, t.Version)
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	live := map[string]*backend{}
	rt := compile(t, func(service, env, release string, spec *Backend, hc *HealthCheck) *backend {
		key := backendKey(service, env, release, spec)
		if b := live[key]; b != nil {
			return b
		}
		b := s.backends[key]
		if b == nil {
			b = newBackend(key, service, env, release, spec)
			b.m = s.metrics.forBackend(b)
			b.healthy.Store(restored || hc == nil)
			b.served.Store(restored || hc == nil)
			s.backends[key] = b
		}
		if b.draining.Swap(false) {
			s.log.Info("proxy backend back in the table", "instance", b.instance, "addr", b.addr)
		}
		s.checkHealth(b, hc)
		live[key] = b
		return b
	}, s.metrics.flags)
	s.attachEdges(rt)
	// Publish the new table before draining what it dropped, so a request
	// that finds a backend draining finds the new table too.
	s.routing.Store(rt)
	if s.certs != nil {
		s.certs.Manage(rt.hosts())
	}
	for key, b := range s.backends {
		if live[key] != nil {
			continue
		}
		if !b.draining.Swap(true) {
			s.log.Info("proxy backend draining", "service", b.service, "environment", b.env,
				"release", b.release, "instance", b.instance, "addr", b.addr, "in_flight", b.inFlight.Load())
		}
		stopHealth(b)
		if b.inFlight.Load() == 0 {
			s.removeLocked(b)
		}
	}
	return nil
}
