package runtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/docker/go-connections/nat"
)

// Listening is implemented by runtimes that can say where an instance
// accepts connections as the system sees it, not as tug asked: the proxy
// is the one listener meant for the outside, so an instance reachable
// on another address bypasses it (its TLS, its limits). Safe for
// concurrent use; honours ctx.
type Listening interface {
	// Listening returns the addresses inst accepts TCP connections on.
	Listening(ctx context.Context, inst Instance) ([]netip.AddrPort, error)
}

var (
	_ Listening = (*Process)(nil)
	_ Listening = (*Docker)(nil)
)

// Listening reads the listening sockets on the instance's port from the
// kernel's tables (/proc/net/tcp and tcp6): a service told to listen on
// $PORT may bind every address instead of 127.0.0.1.
func (p *Process) Listening(_ context.Context, inst Instance) ([]netip.AddrPort, error) {
	_, ps, err := net.SplitHostPort(inst.Addr)
	if err != nil {
		return nil, fmt.Errorf("instance %s: address %q: %w", inst.ID, inst.Addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("instance %s: port %q: %w", inst.ID, ps, err)
	}
	return ListeningOn(uint16(port))
}

// Listening reads the container's port bindings on the host from the
// engine: tug binds them to 127.0.0.1, and this checks that it holds.
func (d *Docker) Listening(ctx context.Context, inst Instance) ([]netip.AddrPort, error) {
	insp, err := d.cli.ContainerInspect(ctx, inst.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", inst.ID, err)
	}
	var ports nat.PortMap
	if insp.NetworkSettings != nil {
		ports = insp.NetworkSettings.Ports
	}
	var out []netip.AddrPort
	for _, bindings := range ports {
		for _, b := range bindings {
			ip, err := netip.ParseAddr(b.HostIP)
			if b.HostIP == "" {
				ip, err = netip.IPv4Unspecified(), nil
			}
			port, perr := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || perr != nil {
				return nil, fmt.Errorf("instance %s: a port binding %s:%s the engine reports cannot be read", inst.ID, b.HostIP, b.HostPort)
			}
			out = append(out, netip.AddrPortFrom(ip, uint16(port)))
		}
	}
	return out, nil
}

// procNetTCP are the kernel's tables of TCP sockets.
var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// ListeningOn returns the local addresses of the TCP sockets listening on
// port, from the kernel's tables.
func ListeningOn(port uint16) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	read := 0
	for _, path := range procNetTCP {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseProcNetTCP(bufio.NewScanner(f))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		read++
		for _, s := range socks {
			if s.Port() == port {
				out = append(out, s)
			}
		}
	}
	if read == 0 {
		return nil, errors.New("the kernel's socket tables (/proc/net/tcp) cannot be read on this system")
	}
	return out, nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// parseProcNetTCP returns the local addresses of the listening sockets in
// a /proc/net/tcp or tcp6 table: "  0: 0100007F:1F90 00000000:0000 0A ...".
func parseProcNetTCP(sc *bufio.Scanner) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 4 || f[3] != tcpListen {
			continue
		}
		ap, err := parseHexAddr(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, sc.Err()
}

// parseHexAddr reads the kernel's hex address: the IP as 32-bit words
// printed as host integers (so their bytes are in the machine's order),
// then the port.
func parseHexAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	words, err := hex.DecodeString(ipHex)
	if !ok || err != nil || (len(words) != 4 && len(words) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	raw := make([]byte, len(words))
	for i := 0; i < len(words); i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(words[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}
