// Command drive sends a fixed number of bodyless GETs over kept-alive
// connections and reads each answer (framed by Content-Length): the
// bounded load of bench/proxy/run.sh's instruction counts, where wrk's
// fixed duration would make the counts depend on the machine's speed.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "where to send")
	host := flag.String("host", "bench.localhost", "Host header")
	conns := flag.Int("c", 8, "connections")
	n := flag.Int("n", 10000, "requests in all")
	flag.Parse()
	req := []byte("GET / HTTP/1.1\r\nHost: " + *host + "\r\nUser-Agent: drive\r\n\r\n")
	errs := make(chan error, *conns)
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- run(*addr, req, *n / *conns)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "drive:", err)
			os.Exit(1)
		}
	}
}

// run sends n requests on one connection, each after the previous answer.
func run(addr string, req []byte, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		if _, err := c.Write(req); err != nil {
			return err
		}
		status, length := 0, 0
		for first := true; ; first = false {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return err
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			if first && len(line) >= 12 {
				status, _ = strconv.Atoi(string(line[9:12]))
			} else if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("answer %d: status %d", i, status)
		}
	}
	return nil
}
