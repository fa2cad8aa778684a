package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
)

// SocketName is the API's unix socket inside the state directory.
const SocketName = "api.sock"

// ErrUnreachable wraps every failure to reach the server; the CLI maps it
// to exit code 3.
var ErrUnreachable = errors.New("cannot reach the tug server")

// Client calls the server's API over its unix socket or TCP, one typed
// method per operation of the route table (see calls.go). API errors come
// back as *endpoint.Error; transport failures wrap ErrUnreachable. Safe
// for concurrent use.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// WithToken returns a client that sends token as Authorization: Bearer
// on every request (what a TCP listener asks for; the unix socket needs
// none).
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// NewClient returns a client for target: a base URL ("http://127.0.0.1:7070")
// or a unix socket path.
func NewClient(target string) *Client {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return &Client{base: strings.TrimRight(target, "/"), hc: &http.Client{}}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", target)
		},
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{base: "http://tug", hc: &http.Client{Transport: tr}}
}

// call sends operation d with p and b and decodes its answer (a string
// answer is the body's text).
func call[P, B, R any](ctx context.Context, c *Client, d endpoint.Decl[P, B, R], p P, b B) (R, error) {
	var out R
	resp, err := open(ctx, c, d, p, b)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if s, ok := any(&out).(*string); ok {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return out, fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
		}
		*s = string(data)
		return out, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("%w: bad answer to %s %s: %v", ErrUnreachable, d.Method(), d.Path(), err)
	}
	return out, nil
}

// stream sends operation d and calls each with every line of its NDJSON
// answer until the answer ends, each fails, or ctx is done.
func stream[P, B, R any](ctx context.Context, c *Client, d endpoint.Decl[P, B, R], p P, b B, each func(R) error) error {
	resp, err := open(ctx, c, d, p, b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v R
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("%w: bad line from %s %s %q: %v", ErrUnreachable, d.Method(), d.Path(), line, err)
		}
		if err := each(v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: stream broke: %v", ErrUnreachable, err)
	}
	return ctx.Err()
}

func open[P, B, R any](ctx context.Context, c *Client, d endpoint.Decl[P, B, R], p P, b B) (*http.Response, error) {
	method, target, body, err := d.Request(p, b)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+target, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil || (method != http.MethodGet && method != http.MethodHead) {
		// Changes go as JSON even without a body: the TCP listener
		// refuses them otherwise.
		req.Header.Set("Content-Type", endpoint.MediaJSON)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, answerError(resp, b)
	}
	return resp, nil
}

// answerError reads an error answer: tug's envelope, or Prometheus's on
// the /api/v1/ operations.
func answerError(resp *http.Response, body []byte) error {
	var tug struct {
		Error *endpoint.Error `json:"error"`
	}
	if json.Unmarshal(body, &tug) == nil && tug.Error != nil {
		tug.Error.Status = resp.StatusCode
		return tug.Error
	}
	var prom struct{ ErrorType, Error string }
	if json.Unmarshal(body, &prom) == nil && prom.ErrorType != "" {
		return &endpoint.Error{Status: resp.StatusCode, Code: endpoint.Code(prom.ErrorType), Message: prom.Error}
	}
	return &endpoint.Error{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))}
}
