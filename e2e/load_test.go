package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// load keeps a steady request rate on one host through the proxy and
// records every failure and the versions answered. It stops by itself
// after maxDur or maxRequests, whichever comes first.
type load struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	total    int
	failures []string
	nFailed  int
	last     []string // recent versions, newest last
	started  time.Time
	stopped  time.Time
}

// startLoad sends rate requests per second with workers goroutines to
// http://addr/ with the given Host header.
func startLoad(addr, host string, rate, workers int, maxDur time.Duration) *load {
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	l := &load{cancel: cancel, done: make(chan struct{}), started: time.Now()}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	maxRequests := int(maxDur.Seconds()*float64(rate)) + rate
	interval := time.Duration(int64(time.Second) * int64(workers) / int64(rate))
	var wg sync.WaitGroup
	var sent sync.Mutex
	count := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				sent.Lock()
				if count >= maxRequests {
					sent.Unlock()
					return
				}
				count++
				sent.Unlock()
				l.one(ctx, client, addr, host)
			}
		}()
	}
	go func() {
		wg.Wait()
		tr.CloseIdleConnections()
		l.mu.Lock()
		l.stopped = time.Now()
		l.mu.Unlock()
		close(l.done)
	}()
	return l
}

func (l *load) one(ctx context.Context, c *http.Client, addr, host string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if ctx.Err() != nil {
		return // stopping: not a failure of the proxy
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	switch {
	case err != nil:
		l.fail(fmt.Sprintf("%s transport: %v", time.Now().Format("15:04:05.000"), err))
	case resp.StatusCode/100 != 2:
		l.fail(fmt.Sprintf("%s status %d: %s", time.Now().Format("15:04:05.000"), resp.StatusCode, strings.TrimSpace(string(body))))
	default:
		l.last = append(l.last, strings.TrimSpace(string(body)))
		if len(l.last) > 64 {
			l.last = l.last[len(l.last)-64:]
		}
	}
}

func (l *load) fail(s string) {
	l.nFailed++
	if len(l.failures) < 20 {
		l.failures = append(l.failures, s)
	}
}

// stop ends the load and waits for it.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

// recent returns the last n versions answered.
func (l *load) recent(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > len(l.last) {
		n = len(l.last)
	}
	return append([]string(nil), l.last[len(l.last)-n:]...)
}

// answered is how many requests were made so far.
func (l *load) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// result summarises the load: total requests, failures, achieved rate.
func (l *load) result() (total, failed int, rate float64, samples []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := l.stopped
	if end.IsZero() {
		end = time.Now()
	}
	return l.total, l.nFailed, float64(l.total) / end.Sub(l.started).Seconds(), append([]string(nil), l.failures...)
}

// waitVersion waits until the last n answers are all want.
func (l *load) waitVersion(want string, n int, timeout time.Duration) bool {
	return testkit.Poll(timeout, func() bool {
		r := l.recent(n)
		ok := len(r) == n
		for _, v := range r {
			ok = ok && v == want
		}
		return ok
	})
}
