package proxy

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routing is one compiled Table: lookups by host, then longest prefix.
// It is immutable once built except for the pick state inside each route.
type routing struct {
	table  *Table
	byHost map[string][]*route // lower-case host -> routes, longest prefix first
	flags  *flagSet            // the table's feature flags, nil without
}

// route is a compiled Route with its balancing state.
type route struct {
	host         string
	prefix       string
	service      string
	env          string
	stickyCookie string
	stickyTTL    time.Duration
	pools        []*pool
	byID         map[string]*backend // sticky-cookie value -> backend
	edgeSpec     *Edge
	edge         *edgePolicy // nil: nothing to enforce (edge.go)

	mu   sync.Mutex // guards swrr
	swrr *swrr
}

// pool is the backends of one release inside a route.
type pool struct {
	release  string
	weight   int
	backends []*backend
	next     uint32 // round-robin cursor, guarded by route.mu
}

func (rt *routing) match(host, path string) *route {
	if rt == nil {
		return nil
	}
	routes := rt.byHost[normalHost(host)]
	for _, r := range routes {
		if prefixMatch(path, r.prefix) {
			return r
		}
	}
	return nil
}

// normalHost lower-cases host and drops a port; it avoids allocating when
// the host is already in canonical form.
func normalHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// prefixMatch matches whole path segments: "/api" matches "/api" and
// "/api/x" but not "/apix"; "" and "/" match everything.
func prefixMatch(path, prefix string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

// pick chooses a backend: SWRR across pools by weight, then round robin
// among the available backends of the chosen pool. Backends in skip (tried
// already) are passed over. nil when nothing is available.
func (r *route) pick(now int64, skip []*backend) *backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.swrr.next(func(i int) bool { return r.pools[i].hasAvailable(now, skip) })
	if i < 0 {
		return r.lastResort(skip)
	}
	p := r.pools[i]
	n := uint32(len(p.backends))
	for j := uint32(0); j < n; j++ {
		b := p.backends[(p.next+j)%n]
		if b.available(now) && !contains(skip, b) {
			p.next = (p.next + j + 1) % n
			return b
		}
	}
	return nil
}

// lastResort is a backend of a weighted pool that served before, for when
// nothing is available: as nginx does when every upstream is marked down,
// try rather than refuse. Backends never seen healthy stay out.
func (r *route) lastResort(skip []*backend) *backend {
	for _, p := range r.pools {
		if p.weight <= 0 {
			continue
		}
		n := uint32(len(p.backends))
		for j := uint32(0); j < n; j++ {
			b := p.backends[(p.next+j)%n]
			if b.lastResort() && !contains(skip, b) {
				p.next = (p.next + j + 1) % n
				return b
			}
		}
	}
	return nil
}

// sticky returns the backend named by the request's sticky cookie if it
// belongs to this route and is available.
func (r *route) sticky(req *http.Request, now int64) *backend {
	if r.stickyCookie == "" {
		return nil
	}
	c, err := req.Cookie(r.stickyCookie)
	if err != nil {
		return nil
	}
	b := r.byID[c.Value]
	if b == nil || !b.available(now) {
		return nil
	}
	for _, p := range r.pools {
		if p.release == b.release && p.weight > 0 {
			return b
		}
	}
	return nil
}

func (p *pool) hasAvailable(now int64, skip []*backend) bool {
	for _, b := range p.backends {
		if b.available(now) && !contains(skip, b) {
			return true
		}
	}
	return false
}

func contains(list []*backend, b *backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// compile builds the routing for t, taking backend state from get.
func compile(t *Table, get func(service, env, release string, b *Backend, hc *HealthCheck) *backend, flagCounter *prometheus.CounterVec) *routing {
	rt := &routing{table: t, byHost: map[string][]*route{}, flags: compileFlags(t.Flags, flagCounter)}
	for _, r := range t.Routes {
		cr := &route{
			host:         normalHost(r.Host),
			prefix:       r.PathPrefix,
			service:      r.Service,
			env:          r.Environment,
			stickyCookie: r.StickyCookie,
			stickyTTL:    r.StickyTTL,
			edgeSpec:     r.Edge,
			byID:         map[string]*backend{},
		}
		weights := make([]int, 0, len(r.Pools))
		for _, p := range r.Pools {
			cp := &pool{release: p.Release, weight: p.Weight}
			for _, b := range p.Backends {
				be := get(r.Service, r.Environment, p.Release, b, r.Health)
				cp.backends = append(cp.backends, be)
				cr.byID[be.id] = be
			}
			cr.pools = append(cr.pools, cp)
			weights = append(weights, p.Weight)
		}
		cr.swrr = newSWRR(weights)
		rt.byHost[cr.host] = append(rt.byHost[cr.host], cr)
	}
	for _, routes := range rt.byHost {
		sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].prefix) > len(routes[j].prefix) })
	}
	return rt
}
