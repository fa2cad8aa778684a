package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxyBodyless measures one bodyless GET through the proxy over
// loopback, access log on, as bench/proxy/run.sh drives it: kept-alive
// client connections, one backend. The client and the backend are written
// by hand and allocate nothing per request, so allocs/op and B/op are the
// proxy's own; ns/op includes both peers' CPU on the same machine.
//
//	go test -run '^$' -bench ProxyBodyless -benchmem ./internal/proxy/
func BenchmarkProxyBodyless(b *testing.B) {
	be := rawBackend(b)
	p := startProxy(b, stateDir(b), nil)
	p.apply(b, oneRoute(1, "bench.localhost", mkPool("r1", 1, be)))
	addr := p.srv.HTTPAddr().String()
	req := []byte("GET / HTTP/1.1\r\nHost: bench.localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")

	// Warm the pools (connections, buffers) before counting.
	c := dialRaw(b, addr)
	for range 100 {
		if err := c.roundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()

	b.ReportAllocs()
	b.SetParallelism(4)
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := dialRaw(b, addr)
		defer c.Close()
		for pb.Next() {
			if err := c.roundTrip(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// CPU time is steadier than wall time on a loaded machine.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawConn is a kept-alive client connection that reads answers framed by
// Content-Length without allocating.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(tb testing.TB, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawConn{Conn: c, br: bufio.NewReaderSize(c, 4096)}
}

func (c *rawConn) roundTrip(req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	status, n, err := readRawHead(c.br)
	if err != nil {
		return err
	}
	if status != 200 {
		return io.ErrUnexpectedEOF
	}
	_, err = c.br.Discard(n)
	return err
}

// readRawHead reads a message head and returns the status code (0 for a
// request) and the Content-Length.
func readRawHead(br *bufio.Reader) (status, length int, err error) {
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return status, length, nil
		}
		if first {
			first = false
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && len(line) >= 12 {
				status, _ = strconv.Atoi(string(line[9:12]))
			}
			continue
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && len(k) == len("Content-Length") &&
			bytes.EqualFold(k, []byte("Content-Length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
}

// rawBackend answers every request on a connection with a small fixed
// body, allocating nothing per request; it returns its address.
func rawBackend(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { l.Close(); wg.Wait() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n\r\nhello from the tug benchmark backend\n")
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReaderSize(c, 4096)
				for {
					if _, n, err := readRawHead(br); err != nil {
						return
					} else if n > 0 {
						br.Discard(n)
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}
