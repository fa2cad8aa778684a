package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/flagset"
)

// ErrInvalidTable wraps every reason a pushed table is refused.
var ErrInvalidTable = errors.New("invalid routing table")

// Validate checks t and names the first bad place, e.g.
// "routes[1].pools[0].backends[2].addr: missing port".
func Validate(t *Table) error {
	if t == nil {
		return fmt.Errorf("%w: empty body", ErrInvalidTable)
	}
	if t.Version < 0 {
		return fmt.Errorf("%w: version: must not be negative", ErrInvalidTable)
	}
	if _, err := flagset.Compile(t.Flags); err != nil {
		return fmt.Errorf("%w: flags: %v", ErrInvalidTable, err)
	}
	seen := map[string]int{}
	for i, r := range t.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		if r == nil {
			return fmt.Errorf("%w: %s: null route", ErrInvalidTable, at)
		}
		if r.Host == "" || strings.ContainsAny(r.Host, " /\t") {
			return fmt.Errorf("%w: %s.host: %q is not a host name", ErrInvalidTable, at, r.Host)
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			return fmt.Errorf("%w: %s.path_prefix: %q must start with /", ErrInvalidTable, at, r.PathPrefix)
		}
		key := normalHost(r.Host) + " " + strings.TrimSuffix(r.PathPrefix, "/")
		if j, dup := seen[key]; dup {
			return fmt.Errorf("%w: %s: same host and path prefix as routes[%d]", ErrInvalidTable, at, j)
		}
		seen[key] = i
		if r.Service == "" {
			return fmt.Errorf("%w: %s.service: required", ErrInvalidTable, at)
		}
		if r.StickyTTL < 0 {
			return fmt.Errorf("%w: %s.sticky_ttl: must not be negative", ErrInvalidTable, at)
		}
		if err := validEdge(at, r.Edge); err != nil {
			return err
		}
		if h := r.Health; h != nil {
			if !strings.HasPrefix(h.Path, "/") {
				return fmt.Errorf("%w: %s.health.path: %q must start with /", ErrInvalidTable, at, h.Path)
			}
			if h.Interval < 0 || h.Timeout < 0 {
				return fmt.Errorf("%w: %s.health: interval and timeout must not be negative", ErrInvalidTable, at)
			}
		}
		for j, p := range r.Pools {
			pat := fmt.Sprintf("%s.pools[%d]", at, j)
			if p == nil {
				return fmt.Errorf("%w: %s: null pool", ErrInvalidTable, pat)
			}
			if p.Weight < 0 {
				return fmt.Errorf("%w: %s.weight: %d must not be negative", ErrInvalidTable, pat, p.Weight)
			}
			for k, b := range p.Backends {
				bat := fmt.Sprintf("%s.backends[%d]", pat, k)
				if b == nil {
					return fmt.Errorf("%w: %s: null backend", ErrInvalidTable, bat)
				}
				if err := checkAddr(b.Addr); err != nil {
					return fmt.Errorf("%w: %s.addr: %v", ErrInvalidTable, bat, err)
				}
			}
		}
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %v", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q: missing host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q: bad port", addr)
	}
	return nil
}
