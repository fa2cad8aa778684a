package proxy

import "sort"

// A backend that leaves the table is drained: pick never returns it again
// (available is false while draining), requests already on it run to the
// end, and it is forgotten when its last one finishes. /backends lists it
// with draining=true and its in_flight count until then.

// acquire counts a request on b.
func (s *Server) acquire(b *backend) {
	b.inFlight.Add(1)
	b.m.inFlight.Inc()
}

// release ends a request on b and forgets b if it was the last one of a
// draining backend.
func (s *Server) release(b *backend) {
	b.m.inFlight.Dec()
	if b.inFlight.Add(-1) == 0 && b.draining.Load() {
		s.bmu.Lock()
		if b.draining.Load() && b.inFlight.Load() == 0 {
			s.removeLocked(b)
		}
		s.bmu.Unlock()
	}
}

// removeLocked forgets a drained backend; s.bmu is held.
func (s *Server) removeLocked(b *backend) {
	if s.backends[b.key] != b {
		return
	}
	delete(s.backends, b.key)
	s.metrics.forget(b)
	s.upstream.dropAddr(b.addr)
	s.log.Info("proxy backend drained", "instance", b.instance, "addr", b.addr)
}

// backendStatuses lists every known backend, draining ones included.
func (s *Server) backendStatuses() []BackendStatus {
	s.bmu.Lock()
	out := make([]BackendStatus, 0, len(s.backends))
	for _, b := range s.backends {
		out = append(out, b.status())
	}
	s.bmu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Release != b.Release {
			return a.Release < b.Release
		}
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		return a.Addr < b.Addr
	})
	return out
}
