package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ErrUnreachable wraps failures to reach the proxy's control socket.
var ErrUnreachable = errors.New("proxy control socket unreachable")

// ErrStale: the proxy holds a newer table than the one pushed.
var ErrStale = errors.New("routing table version is older than the proxy's")

// Client talks to a running proxy over its control socket. Safe for
// concurrent use; every call honours ctx.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// Health is the proxy's answer to GET /healthz: which process it is and
// the addresses it was told to serve, so a server adopting it can tell
// whether it must be replaced.
type Health struct {
	OK bool `json:"ok"`
	// Version is the routing table's version (0: none) and Routes its
	// number of routes: a server that pushed a newer table sees that the
	// proxy lost it (a restart on a damaged file) and pushes it again.
	Version int64  `json:"version"`
	Routes  int    `json:"routes"`
	PID     int    `json:"pid"`
	HTTP    string `json:"http,omitempty"`
	HTTPS   string `json:"https,omitempty"`
	// Flags is the OFREP-only listener's address (Options.FlagsAddr).
	Flags string `json:"flags,omitempty"`
}

// Healthz reports whether the proxy answers.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Health returns the proxy's health answer.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/healthz", nil, &h)
	return h, err
}

// Table returns the proxy's current routing table.
func (c *Client) Table(ctx context.Context) (*Table, error) {
	var t Table
	if err := c.do(ctx, http.MethodGet, "/table", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Apply replaces the routing table; ErrStale if the proxy's is newer.
func (c *Client) Apply(ctx context.Context, t *Table) error {
	return c.do(ctx, http.MethodPut, "/table", t, nil)
}

// Stats returns the per-release counters.
func (c *Client) Stats(ctx context.Context) ([]Stats, error) {
	var s []Stats
	err := c.do(ctx, http.MethodGet, "/stats", nil, &s)
	return s, err
}

// Backends returns what the proxy knows of every backend, draining ones too.
func (c *Client) Backends(ctx context.Context) ([]BackendStatus, error) {
	var b []BackendStatus
	err := c.do(ctx, http.MethodGet, "/backends", nil, &b)
	return b, err
}

// Metrics returns the proxy's Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://proxy/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://proxy"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return ErrStale
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("proxy %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Certs lists the certificates the proxy's https listener serves, with
// their expiry (none without one).
func (c *Client) Certs(ctx context.Context) ([]CertStatus, error) {
	var out []CertStatus
	err := c.do(ctx, http.MethodGet, "/certs", nil, &out)
	return out, err
}
