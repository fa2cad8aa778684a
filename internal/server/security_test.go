package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
)

// secretYAML interpolates a database URL and a Slack webhook from the
// environment, and writes a webhook URL and an SMTP user in the file.
const secretYAML = `version: 1
project: demo
services:
  web:
    run: ./web
    routes: [web.localhost]
    env: {DATABASE_URL: "${DATABASE_URL}"}
environments:
  staging: {}
notify:
  channels:
    - {name: chat, slack: {url: "${SLACK_URL}"}}
    - {name: hook, webhook: {url: "https://hooks.example.com/T0/B0/written-in-the-file"}}
    - {name: mail, email: {to: [ops@example.com], smtp: {host: smtp.example.com, from: tug@example.com, username: mailer-user}}}
`

// The values the environment holds; none may reach an API answer.
var secretEnv = map[string]string{
	"DATABASE_URL": "postgres://app:hunter2-db-password@db/app",
	"SLACK_URL":    "https://hooks.slack.com/services/T0/B0/s3cr3t-slack-token",
}

// TestTCPAPIRefusesTheReportedAttackAndHidesSecrets sends, over a real
// TCP connection, the request of the security report that deployed from
// any web page (text/plain, a foreign Origin, a DNS-rebinding Host), and
// reads the config over both listeners: no deploy happens, and no value
// of the environment (nor a secret written in the file) is in any answer.
func TestTCPAPIRefusesTheReportedAttackAndHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	lookup := func(k string) (string, bool) { v, ok := secretEnv[k]; return v, ok }
	srv := startServer(t, Options{ConfigPath: writeConfig(t, dir, secretYAML), StateDir: state, ProxyCommand: fakeProxyArgv(t),
		ListenAddr: "127.0.0.1:0", InsecureNoAuth: true, LookupEnv: lookup, Debounce: 20 * time.Millisecond})
	defer srv.stop(t)
	if !strings.Contains(srv.logs.String(), "NO AUTHENTICATION") {
		t.Errorf("serving TCP without authentication was not logged loudly:\n%s", srv.logs)
	}
	_, port, _ := net.SplitHostPort(srv.info.Listen)

	conn, err := net.Dial("tcp", srv.info.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"service":"web"}`
	io.WriteString(conn, "POST /api/deploys HTTP/1.1\r\nHost: rebind.evil.example:"+port+"\r\nOrigin: http://evil.example\r\n"+
		"Content-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the reported attack got %s", resp.Status)
	}
	ctx := context.Background()
	sock, tcp := api.NewClient(srv.info.Socket), api.NewClient("http://"+srv.info.Listen)
	if rels, err := sock.Releases(ctx, "web", ""); err != nil || len(rels) != 0 {
		t.Fatalf("releases after the attack: %v %v", rels, err)
	}

	for name, c := range map[string]*api.Client{"socket": sock, "tcp": tcp} {
		cfg, err := c.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		applied, err := c.Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, answer := range []string{string(cfg.Config), string(applied.Config)} {
			for _, leak := range []string{secretEnv["DATABASE_URL"], secretEnv["SLACK_URL"], "hunter2", "s3cr3t", "written-in-the-file", "mailer-user"} {
				if strings.Contains(answer, leak) {
					t.Errorf("%s: /api/config shows %q:\n%s", name, leak, answer)
				}
			}
			if !strings.Contains(answer, `"${DATABASE_URL}"`) || strings.Count(answer, `"<secret>"`) != 3 {
				t.Errorf("%s: the config is not shown as written with its secrets masked:\n%s", name, answer)
			}
		}
	}
}

// A step that fails undoes the steps before it, last first: a --listen
// address in use leaves no lock, pid file or socket behind, and the next
// start succeeds.
func TestFailedStartUndoesItsSteps(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts := Options{ConfigPath: writeConfig(t, dir, minimalYAML), StateDir: state, ProxyCommand: fakeProxyArgv(t),
		ListenAddr: taken.Addr().String(), InsecureNoAuth: true, Debounce: 20 * time.Millisecond}
	err = Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "--listen "+taken.Addr().String()) {
		t.Fatalf("start on a taken address: %v", err)
	}
	for _, f := range []string{PIDFile, api.SocketName} {
		if _, err := os.Stat(filepath.Join(state, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	opts.ListenAddr = "127.0.0.1:0"
	startServer(t, opts).stop(t)
}
