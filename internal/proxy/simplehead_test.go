package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// simpleHeadSeeds are answer heads around every rule of parseSimpleHead.
func simpleHeadSeeds() []string {
	return []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-lower: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length:   7  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n1234567",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 2x0 Odd\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok",
		"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n X-Lead: a\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Space : a\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Bad\x01: a\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Del: a\x7fb\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Utf8: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n: empty name\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTe: trailers\r\nProxy-Authenticate: Basic\r\nProxy-Connection: x\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nX-UPPER: a\r\ncontent-TYPE: text/plain\r\nX-a-B: c\r\nWWW-Authenticate: x\r\nContent-Length: 2\r\n\r\nok",
	}
}

// TestSimpleHeadAgreesWithReadResponse: whatever head parseSimpleHead
// takes, http.ReadResponse reads the same way (status, end-to-end fields,
// length, close, body), and a head it leaves is left untouched.
func TestSimpleHeadAgreesWithReadResponse(t *testing.T) {
	t.Parallel()
	taken := 0
	for _, in := range simpleHeadSeeds() {
		for _, method := range []string{"GET", "HEAD"} {
			if checkSimpleHead(t, []byte(in), method) {
				taken++
			}
		}
	}
	if taken < 8 {
		t.Errorf("parseSimpleHead took %d of the seed heads; the common ones must take the fast way", taken)
	}
}

func FuzzSimpleHead(f *testing.F) {
	for _, s := range simpleHeadSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSimpleHead(t, in, "GET")
	})
}

// checkSimpleHead compares parseSimpleHead with http.ReadResponse on in
// and reports whether parseSimpleHead took it.
func checkSimpleHead(t *testing.T, in []byte, method string) bool {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
	br.Peek(1)
	before := br.Buffered()
	dst := http.Header{}
	a, ok := parseSimpleHead(br, method, dst)
	if !ok {
		if len(dst) != 0 || br.Buffered() != before {
			t.Errorf("%q: left to ReadResponse, but fields added (%v) or bytes consumed", in, dst)
		}
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: method})
	if err != nil {
		t.Errorf("%q: taken (%+v), but ReadResponse refuses it: %v", in, a, err)
		return true
	}
	want := http.Header{}
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if !isHop(k, conn) {
			want[k] = vv
		}
	}
	if a.status != resp.StatusCode || a.length != resp.ContentLength || a.close != resp.Close || !reflect.DeepEqual(dst, want) {
		t.Errorf("%q:\n got status %d length %d close %v fields %v\nwant status %d length %d close %v fields %v",
			in, a.status, a.length, a.close, dst, resp.StatusCode, resp.ContentLength, resp.Close, want)
	}
	wantBody, werr := io.ReadAll(resp.Body)
	gotBody, _ := io.ReadAll(io.LimitReader(br, a.length))
	complete := int64(len(gotBody)) == a.length
	if (werr == nil) != complete || werr == nil && !bytes.Equal(gotBody, wantBody) {
		t.Errorf("%q: body %q (complete %v), ReadResponse's %q (%v)", in, gotBody, complete, wantBody, werr)
	}
	return true
}
