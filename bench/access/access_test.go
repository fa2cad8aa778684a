// Package access_bench measures what a token costs the API: requests
// with a valid token beside requests with wrong ones (a real token's ID
// with a wrong secret, an unknown token, garbage, none), interleaved so
// both sides see the same noise, over loopback HTTP to the API as its
// TCP listener serves it (guard, token check, roles), with the audit log
// writing every refusal to disk. Run with bench/access/run.sh.
package access_bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

type noDeploys struct{ api.Deployer }

func (noDeploys) Status(context.Context) ([]deploy.ServiceStatus, error) { return nil, nil }

type fixedConfig struct{ snap api.ConfigSnapshot }

func (f fixedConfig) Current() api.ConfigSnapshot { return f.snap }
func (f fixedConfig) Apply(context.Context) (api.ConfigSnapshot, bool, error) {
	return f.snap, false, nil
}

// setup serves the API on loopback with one viewer token and returns the
// URL, the token and the audit log.
func setup(b *testing.B) (url, token string, log *audit.Log) {
	dir := b.TempDir()
	cfg, err := config.Parse("tug.yaml", []byte("version: 1\nproject: bench\n"), config.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := access.OpenTokens(filepath.Join(dir, access.TokensFile), nil)
	if err != nil {
		b.Fatal(err)
	}
	_, v, err := tokens.Create("bench", endpoint.Viewer, 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	log, err = audit.Open(filepath.Join(dir, "audit"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close() })
	h, err := api.NewHandler(api.Options{Deployer: noDeploys{}, Config: fixedConfig{api.ConfigSnapshot{Config: cfg}}, Tokens: tokens, Audit: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Remote(api.RemoteOptions{Addr: ln.Addr()}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	b.Cleanup(srv.Close)
	return srv.URL, v.Reveal(), log
}

func do(b *testing.B, c *http.Client, url, auth string, want int) time.Duration {
	req, _ := http.NewRequest(http.MethodGet, url+"/api/health", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != want {
		b.Fatalf("%s: %d, want %d", auth, resp.StatusCode, want)
	}
	return d
}

func quantile(ds []time.Duration, q float64) float64 {
	return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds())
}

// BenchmarkTokens sends b.N rounds of one request of each kind, in
// turn, on one keep-alive connection each, and reports each kind's
// latency quantiles in µs (p50, p99, max) beside the valid token's.
func BenchmarkTokens(b *testing.B) {
	url, token, log := setup(b)
	kinds := []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + token, 200},
		{"wrong-secret", "Bearer " + token[:len(token)-4] + "AAAA", 401},
		{"unknown", "Bearer tug_aaaaaaaa_" + fmt.Sprintf("%043d", 7), 401},
		{"garbage", "Bearer not-a-token", 401},
		{"none", "", 401},
	}
	clients := make([]*http.Client, len(kinds))
	lat := make([][]time.Duration, len(kinds))
	for i := range kinds {
		clients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		do(b, clients[i], url, kinds[i].auth, kinds[i].want) // open its connection
	}
	// Refusals are noted without waiting for the disk: count them once
	// the writer has caught up.
	settle := func(want uint64) uint64 {
		for deadline := time.Now().Add(10 * time.Second); log.Head().Seq < want && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return log.Head().Seq
	}
	before := settle(uint64(len(kinds) - 1))
	b.ResetTimer()
	for b.Loop() {
		for i, k := range kinds {
			lat[i] = append(lat[i], do(b, clients[i], url, k.auth, k.want))
		}
	}
	b.StopTimer()
	for i, k := range kinds {
		slices.Sort(lat[i])
		b.ReportMetric(quantile(lat[i], 0.5), k.name+"-p50-µs")
		b.ReportMetric(quantile(lat[i], 0.99), k.name+"-p99-µs")
		b.ReportMetric(float64(lat[i][len(lat[i])-1].Microseconds()), k.name+"-max-µs")
	}
	if want := uint64(4 * len(lat[0])); settle(before+want)-before != want {
		got := log.Head().Seq - before
		b.Fatalf("%d refusals audited, want %d", got, want)
	}
}
