package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Socket handoff, so upgrading the proxy refuses no connection. The
// running proxy listens on <state>/proxy-handoff.sock. A new one:
//
//  1. connects and sends "TAKEOVER\n";
//  2. receives {"names":[...]} with the listening sockets' descriptors
//     attached (SCM_RIGHTS), in the same order;
//  3. serves on them (both processes now accept from the same kernel
//     queues, so nothing queued is lost) and sends "READY\n";
//  4. the old proxy stops its control server and handoff socket, answers
//     "OK\n", stops accepting and finishes its in-flight requests;
//  5. the new proxy re-reads the persisted table (a push the old one took
//     during the handoff wins if newer) and opens its own handoff socket.
//
// If the new proxy dies before READY the old one simply keeps serving.

const handoffTimeout = 10 * time.Second

type handoffHello struct {
	Names []string `json:"names"`
}

// takeOver asks a running proxy for its sockets. No proxy running (no
// socket, or nobody answers): nil map and conn, no error.
func (s *Server) takeOver(ctx context.Context) (map[string]net.Listener, *net.UnixConn, error) {
	p := filepath.Join(s.opts.StateDir, HandoffSocketName)
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return nil, nil, nil
	}
	conn := c.(*net.UnixConn)
	conn.SetDeadline(time.Now().Add(handoffTimeout))
	if _, err := conn.Write([]byte("TAKEOVER\n")); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("proxy handoff: %w", err)
	}
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(8*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("proxy handoff: read sockets: %w", err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("proxy handoff: %w", err)
	}
	var hello handoffHello
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(buf[:n]))), &hello); err != nil || len(hello.Names) != len(fds) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		conn.Close()
		return nil, nil, fmt.Errorf("proxy handoff: bad hello %q (%d sockets)", buf[:n], len(fds))
	}
	out := map[string]net.Listener{}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), hello.Names[i])
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			conn.Close()
			return nil, nil, fmt.Errorf("proxy handoff: socket %s: %w", hello.Names[i], err)
		}
		out[hello.Names[i]] = l
	}
	s.log.Info("proxy: took over sockets of the running proxy", "sockets", hello.Names)
	return out, conn, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		r, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, r...)
	}
	if len(fds) == 0 {
		return nil, errors.New("no sockets received")
	}
	return fds, nil
}

// finishTakeOver tells the old proxy we serve, waits for it to let go of
// the control socket, then picks up a table it may have taken meanwhile.
func (s *Server) finishTakeOver(conn *net.UnixConn) error {
	if _, err := conn.Write([]byte("READY\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("waiting for the old proxy: %w", err)
	}
	if line != "OK\n" {
		return fmt.Errorf("old proxy answered %q", line)
	}
	t, _, err := loadTable(s.dataDir)
	if t == nil {
		return err
	}
	if t.Version > s.routing.Load().table.Version {
		return s.apply(t, true)
	}
	return nil
}

// serveHandoff answers one successful takeover, then returns; the server
// stops once s.handedOff is closed.
func (s *Server) serveHandoff(ln *net.UnixListener) {
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		if s.handOver(conn, ln) {
			return
		}
	}
}

func (s *Server) handOver(conn *net.UnixConn, ln *net.UnixListener) bool {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(handoffTimeout))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != "TAKEOVER\n" {
		return false
	}
	var names []string
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for _, x := range []struct {
		name string
		l    net.Listener
	}{{"http", s.httpLn}, {"https", s.httpsLn}, {"flags", s.flagsLn}, {"control", s.controlLn}} {
		if x.l == nil {
			continue
		}
		fd, err := dupListener(x.l)
		if err != nil {
			s.log.Warn("proxy handoff: listener cannot be passed on", "name", x.name, "err", err)
			return false
		}
		names = append(names, x.name)
		fds = append(fds, fd)
	}
	hello, _ := json.Marshal(handoffHello{Names: names})
	if _, _, err := conn.WriteMsgUnix(append(hello, '\n'), syscall.UnixRights(fds...), nil); err != nil {
		s.log.Warn("proxy handoff: send sockets", "err", err)
		return false
	}
	// Until READY we keep serving: a successor that dies now costs nothing.
	conn.SetDeadline(time.Now().Add(2 * handoffTimeout))
	if line, err := r.ReadString('\n'); err != nil || line != "READY\n" {
		s.log.Warn("proxy handoff: successor did not become ready; still serving", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	// Finish control requests (a table push) before the successor reloads.
	if err := s.controlSrv.Shutdown(ctx); err != nil {
		s.controlSrv.Close()
	}
	ln.Close()
	conn.Write([]byte("OK\n"))
	s.log.Info("proxy: handed sockets to a new proxy; draining")
	s.handOnce.Do(func() { close(s.handedOff) })
	return true
}

// dupListener duplicates l's descriptor without touching its blocking mode
// (os.File.Fd would switch the shared socket to blocking and wedge Accept).
func dupListener(l net.Listener) (int, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = syscall.Dup(int(raw))
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}
