package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	srv := httptest.NewServer(newServer("1.2.3").routes())
	defer srv.Close()

	tests := []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok\n"},
		{"/version", 200, `{"version":"1.2.3"}` + "\n"},
		{"/nope", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		code, body := get(t, srv.URL+tt.path)
		if code != tt.code || body != tt.body {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
		}
	}
	get(t, srv.URL+"/healthz")

	code, body := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE shop_http_requests_total counter\n",
		`shop_http_requests_total{path="/healthz",code="200"} 2` + "\n",
		`shop_http_requests_total{path="other",code="404"} 1` + "\n",
		`shop_build_info{version="1.2.3"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, strconv.Itoa(port), versionInfo{}, slog.New(slog.DiscardHandler)) }()

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestVersionReportsTheRevision(t *testing.T) {
	srv := httptest.NewServer(newServer("r7").withRevision("abc123").routes())
	defer srv.Close()
	if _, body := get(t, srv.URL+"/version"); body != `{"revision":"abc123","version":"r7"}`+"\n" {
		t.Fatalf("/version = %q", body)
	}
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, `shop_build_info{version="r7",revision="abc123"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
}
