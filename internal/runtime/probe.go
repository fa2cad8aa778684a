package runtime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultProbeTimeout bounds a health check whose service names no
// health.timeout.
const DefaultProbeTimeout = time.Second

// Probe runs one health check against an instance listening at addr: an
// HTTP GET of path (a 2xx or 3xx answer within timeout is healthy) or,
// when path is "", a TCP connect. It returns what was checked and seen
// ("GET http://127.0.0.1:4100/healthz: 503 Service Unavailable") and
// whether the instance passed. The deployer's health gates and the
// tug_instance_up metric both use it, so they agree.
func Probe(ctx context.Context, addr, path string, timeout time.Duration) (string, bool) {
	if addr == "" {
		return "instance has no address", false
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if path == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Sprintf("TCP connect %s: %v", addr, err), false
		}
		c.Close()
		return "TCP connect " + addr + ": ok", true
	}
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Sprintf("GET %s: %v", url, err), false
	}
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("GET %s: %v", url, err), false
	}
	resp.Body.Close()
	check := fmt.Sprintf("GET %s: %s", url, resp.Status)
	return check, resp.StatusCode >= 200 && resp.StatusCode < 400
}
