package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
)

// backend is the live state of one instance address, shared by every route
// that names it and kept across table pushes so health, in-flight counts and
// metrics survive a push.
type backend struct {
	key      string // identity: service, environment, release, instance, addr
	id       string // opaque sticky-cookie value
	addr     string
	service  string
	env      string
	release  string
	instance string

	healthy atomic.Bool
	// served: the backend has been healthy at some time, so it is a
	// last resort when nothing in its route is available.
	served   atomic.Bool
	draining atomic.Bool
	inFlight atomic.Int64
	// fails counts consecutive connection errors; ejectedUntil (unix
	// nanoseconds) keeps the backend out of rotation after too many.
	fails        atomic.Int32
	ejectedUntil atomic.Int64

	m *backendMetrics
	// logTail is the end of this backend's access-log lines, encoded once.
	logTail []byte

	mu     sync.Mutex // guards health and stop
	health HealthCheck
	stop   func()
}

func backendKey(service, env, release string, b *Backend) string {
	return service + "\x00" + env + "\x00" + release + "\x00" + b.Instance + "\x00" + b.Addr
}

func newBackend(key, service, env, release string, b *Backend) *backend {
	sum := sha256.Sum256([]byte(key))
	be := &backend{
		key:      key,
		id:       hex.EncodeToString(sum[:8]),
		addr:     b.Addr,
		service:  service,
		env:      env,
		release:  release,
		instance: b.Instance,
	}
	be.logTail = (&accessEntry{service: service, env: env, release: release, instance: b.Instance, upstream: b.Addr}).appendTail(nil)
	return be
}

// available says whether the backend may take a new request at now (unix
// nanoseconds): healthy, not draining, not passively ejected.
func (b *backend) available(now int64) bool {
	return b.healthy.Load() && !b.draining.Load() && now >= b.ejectedUntil.Load()
}

// lastResort says whether b may take a request when no backend of its
// route is available: it was healthy once and is still in the table. A
// flapping check or an ejection then costs a try, not a certain 503.
func (b *backend) lastResort() bool {
	return b.served.Load() && !b.draining.Load()
}

// status is what /backends reports.
func (b *backend) status() BackendStatus {
	return BackendStatus{
		Service:     b.service,
		Environment: b.env,
		Release:     b.release,
		Instance:    b.instance,
		Addr:        b.addr,
		Healthy:     b.healthy.Load(),
		InFlight:    b.inFlight.Load(),
		Draining:    b.draining.Load(),
	}
}
