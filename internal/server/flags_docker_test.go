package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/testkit"
)

// A container on Docker's bridge evaluates flags at the TUG_FLAGS_URL it
// is given: the proxy, listening on loopback, also serves OFREP (and only
// OFREP) at the bridge's gateway, the address containers are given. The
// loopback URL processes get is out of a container's reach.
func TestContainersReachTheFlagsURL(t *testing.T) {
	t.Parallel()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("docker engine not available")
	}
	ctx := context.Background()
	httpAddr := testkit.FreeAddr(t)
	cfg := &config.Config{
		Services: map[string]*config.Service{"boxed": {Image: "example/boxed"}},
		Flags:    map[string]*config.Flag{"new-checkout": {}},
	}
	listen, addr := containerFlags(ctx, cfg, httpAddr)
	if listen == "" || listen != addr || strings.HasPrefix(addr, "127.") {
		t.Fatalf("containers reach the flags at %q, listened on %q", addr, listen)
	}
	if l, _ := containerFlags(ctx, cfg, "0.0.0.0:"+strings.Split(httpAddr, ":")[1]); l != "" {
		t.Errorf("a proxy listening on every address needs no flags listener: %q", l)
	}
	if l, a := containerFlags(ctx, &config.Config{Services: cfg.Services}, httpAddr); l != "" || a != "" {
		t.Errorf("without flags: %q %q", l, a)
	}

	state := t.TempDir()
	px, err := proxy.New(proxy.Options{StateDir: state, HTTPAddr: httpAddr, FlagsAddr: listen, NoHandoff: true, NoAccessLog: true})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- px.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-px.Ready():
	case err := <-done:
		t.Fatalf("proxy: %v", err)
	}
	const key = "tugf_boxed_production_key"
	sum := sha256.Sum256([]byte(key))
	table := &proxy.Table{Version: 1, Routes: []*proxy.Route{}, Flags: &flagset.Set{Environments: map[string]*flagset.Env{
		"production": {Keys: map[string]string{hex.EncodeToString(sum[:]): "boxed"}, Flags: map[string]*flagset.Flag{
			"new-checkout": {Type: flagset.TypeBoolean, Variants: map[string]json.RawMessage{"on": json.RawMessage("true"), "off": json.RawMessage("false")}, Default: "on"},
		}},
	}}}
	if err := proxy.NewClient(proxy.ControlSocketPath(state)).Apply(ctx, table); err != nil {
		t.Fatal(err)
	}

	label := fmt.Sprintf("tug.test=flags-%d", os.Getpid())
	image := buildBusybox(t, t.TempDir(), label, fmt.Sprintf("tug-server-flags-busybox:%d", os.Getpid()))
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	// busybox's nc, as wget in a static busybox without /etc resolves
	// poorly: one HTTP/1.0 request, the whole answer back.
	send := func(addr, method, path, body string) (string, error) {
		host, port, _ := net.SplitHostPort(addr)
		req := fmt.Sprintf("%s %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			method, path, addr, key, len(body), body)
		out, err := exec.Command("docker", "run", "--rm", "--label", label, "-e", "REQ="+req, image,
			"sh", "-c", `printf '%s' "$REQ" | nc -w 5 "$0" "$1"`, host, port).CombinedOutput()
		return string(out), err
	}
	path := strings.TrimPrefix(proxy.FlagsURL(addr, "production"), "http://"+addr) + "/ofrep/v1/evaluate/flags/new-checkout"
	got, err := send(addr, "POST", path, `{"context":{"targetingKey":"u1"}}`)
	if err != nil || !strings.HasPrefix(got, "HTTP/1.0 200") || !strings.Contains(got, `"value":true`) {
		t.Fatalf("from a container, %s%s: %v\n%s", addr, path, err, got)
	}
	if got, _ := send(httpAddr, "POST", path, `{"context":{"targetingKey":"u1"}}`); strings.Contains(got, "HTTP/") {
		t.Errorf("the loopback URL answered a container: %s", got)
	}
	// The flags listener serves nothing but OFREP.
	if got, err := send(addr, "GET", "/", ""); err != nil || !strings.HasPrefix(got, "HTTP/1.0 404") {
		t.Errorf("a route through the flags listener: %v %s", err, got)
	}
}
