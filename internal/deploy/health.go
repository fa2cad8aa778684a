package deploy

import (
	"context"
	"fmt"
	"net"
	"net/http"
)

// probe runs one health check against addr: an HTTP GET of the health
// path (2xx/3xx within the timeout is healthy) or, without a path, a TCP
// connect. It returns a description of what was checked and seen.
func probe(ctx context.Context, p *plan, addr string) (string, bool) {
	if addr == "" {
		return "instance has no address", false
	}
	ctx, cancel := context.WithTimeout(ctx, p.HealthTimeout)
	defer cancel()
	if p.HealthPath == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Sprintf("TCP connect %s: %v", addr, err), false
		}
		c.Close()
		return "TCP connect " + addr + ": ok", true
	}
	url := "http://" + addr + p.HealthPath
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
