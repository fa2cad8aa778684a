package runtime

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A process instance's listening socket is read from the kernel: one
// bound to loopback shows as such, one bound to every address shows the
// unspecified address.
func TestProcessListeningFromTheKernel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		network, bind string
		want          netip.Addr
	}{
		{"tcp4", "127.0.0.1:0", netip.MustParseAddr("127.0.0.1")},
		{"tcp4", "0.0.0.0:0", netip.IPv4Unspecified()},
		{"tcp6", "[::]:0", netip.IPv6Unspecified()},
	} {
		ln, err := net.Listen(c.network, c.bind)
		if err != nil {
			t.Skipf("%s %s: %v", c.network, c.bind, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		inst := Instance{ID: "web-staging-r1-1", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		got, err := (&Process{}).Listening(context.Background(), inst)
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(got, netip.AddrPortFrom(c.want, uint16(port))) {
			t.Errorf("%s %s: listening on %v", c.network, c.bind, got)
		}
	}
}

func TestParseProcNetTCP(t *testing.T) {
	t.Parallel()
	table := `  sl  local_address rem_address   st tx_queue rx_queue
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000
   1: 00000000:0050 00000000:0000 0A 00000000:00000000
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000
`
	got, err := parseProcNetTCP(bufio.NewScanner(strings.NewReader(table)))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("0.0.0.0:80")}
	if !slices.Equal(got, want) {
		t.Fatalf("%v, want %v (established connections left out)", got, want)
	}
	if _, err := parseProcNetTCP(bufio.NewScanner(strings.NewReader("h\n 0: zz:1 0 0A\n"))); err == nil {
		t.Fatal("a damaged table was read")
	}
}
