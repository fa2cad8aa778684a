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
)

// SocketName is the API's unix socket inside the state directory.
const SocketName = "api.sock"

// ErrUnreachable wraps every failure to reach the server; the CLI maps it
// to exit code 3.
var ErrUnreachable = errors.New("cannot reach the tug server")

// Error is an error answer of the API: {"error": {"code": ..., "message": ...}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details position each problem of an invalid config (code
	// "invalid_config") so editors can jump to it.
	Details []ErrorDetail `json:"details,omitempty"`
}

// ErrorDetail is one positioned problem in a config file.
type ErrorDetail struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Client calls the server's JSON API over its unix socket or TCP.
// Safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
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

// Do sends in as JSON (if not nil) and decodes the answer into out (if not
// nil). API errors come back as *Error; transport failures wrap
// ErrUnreachable.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Stream sends a request whose answer is newline-delimited JSON and calls
// each with every line until the body ends or ctx is done.
func (c *Client) Stream(ctx context.Context, method, path string, in any, each func(json.RawMessage) error) error {
	resp, err := c.send(ctx, method, path, in)
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
		if err := each(json.RawMessage(line)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: stream broke: %v", ErrUnreachable, err)
	}
	return ctx.Err()
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
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
		var env struct {
			Error *Error `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &env) == nil && env.Error != nil {
			env.Error.Status = resp.StatusCode
			return nil, env.Error
		}
		return nil, &Error{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))}
	}
	return resp, nil
}
