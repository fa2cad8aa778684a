package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/testkit"
)

// chromium is Debian's browser, which the dashboard's browser tests drive.
const chromium = "/usr/bin/chromium"

// dashYAML is a canary service (a pause between steps long enough to
// watch) and a pipeline whose job writes a line every 150ms.
const dashYAML = `version: 1
project: dash
services:
  shop:
    run: %[1]s
    env: {VERSION: %[2]s}
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: [shop.localhost]
    deploy:
      strategy: canary
      drain_timeout: 1s
      steps: [{weight: 50, pause: 2s}, {weight: 100}]
environments:
  staging: {}
pipelines:
  ci:
    on: [manual]
    jobs:
      build: {run: "echo built"}
      test:
        needs: [build]
        run: "for i in $(seq 1 60); do echo line-$i '<b>x</b>'; sleep 0.15; done"
`

// TestDashboardInABrowser drives headless Chromium through the dashboard
// of a real server: the overview, a canary deploy followed live on the
// service page until the release changes, a rollback, a running
// pipeline's log lines arriving, the other pages, with no JavaScript
// error anywhere. Screenshots of each page go to $TUG_TEST_ARTIFACTS (or
// a temporary directory, logged).
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no %s (apt-get install chromium): the dashboard's browser test needs it", chromium)
	}
	_, app := binaries(t)
	p := newProject(t, fmt.Sprintf(dashYAML, "%[1]s", "v1"))
	stopProxyAfter(t, p.state)
	tug, _ := binaries(t)
	proxyAddr := testkit.FreeAddr(t)
	srv := startServer(t, Options{
		ConfigPath: filepath.Join(p.srv, "tug.yaml"), StateDir: p.state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true, ListenAddr: "127.0.0.1:0",
	})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first, err := c.Deploy(ctx, api.DeployRequest{Service: "shop", Who: "test"}, nil)
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, srv.logs)
	}
	if err := os.WriteFile(filepath.Join(p.srv, "tug.yaml"), []byte(fmt.Sprintf(dashYAML, app, "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx); err != nil {
		t.Fatal(err)
	}

	artifacts := os.Getenv("TUG_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else {
		artifacts = filepath.Join(artifacts, t.Name())
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	var mu sync.Mutex
	var jsErrors []string
	console := chromedp.Console(bctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				jsErrors = append(jsErrors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	base := "http://" + srv.info.Listen
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v\nserver logs:\n%s", what, err, srv.logs)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](expr)); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	wait := func(what, expr string, timeout time.Duration) {
		t.Helper()
		// A poll started before a form's navigation ends with it: poll again.
		deadline := time.Now().Add(timeout)
		var err error
		for time.Now().Before(deadline) {
			if _, err = chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)))); err == nil || !strings.Contains(err.Error(), "(-32000)") {
				break
			}
		}
		if err != nil {
			body, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("waiting for %s: %v\npage:\n%s\nserver logs:\n%s", what, err, body, srv.logs)
		}
	}

	// Acting takes a token (without one, the loopback dashboard is
	// read-only): log in with an admin's.
	tok, err := c.CreateToken(ctx, access.CreateRequest{Name: "browser", Role: endpoint.Admin})
	if err != nil {
		t.Fatal(err)
	}
	do("login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=token]`), tok.Value),
		chromedp.Submit(chromedp.CSS(`input[name=token]`)),
		chromedp.WaitVisible(chromedp.CSS(`#services table`)))
	do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#services table`)))
	shot("overview")
	if ov := text("#services"); !strings.Contains(ov, "shop") || !strings.Contains(ov, first.ID) {
		t.Fatalf("overview: %s", ov)
	}

	// A canary deploy, followed live: the page is never reloaded (the
	// mark set in it stays) while the live release goes from the first
	// one, through both at once, to the new one alone.
	do("service page", chromedp.Navigate(base+"/services/shop?env=staging"), chromedp.WaitVisible(chromedp.CSS(`#deploy`)))
	// The script's tooltip and theme toggle. The pointer moves over the
	// chart at each poll: the deferred script may not listen yet when the
	// page first shows.
	wait("a chart's tooltip", `(function(){var s=document.querySelector('figure.chart > svg'), b=s.getBoundingClientRect();
		s.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: b.left + b.width/2, clientY: b.top + b.height/2}));
		var t=document.querySelector('figure.chart .tip'); return t != null && !t.hidden && t.textContent.length > 0})()`, 30*time.Second)
	do("the theme toggle", chromedp.Click(chromedp.CSS(`#theme`)))
	wait("the theme switched", `document.documentElement.dataset.theme == 'dark' || document.documentElement.dataset.theme == 'light'`, 10*time.Second)
	do("deploy", chromedp.Click(chromedp.CSS(`#deploy`)))
	wait("the page after the deploy form", `location.search.includes('flash=deploy') && document.readyState == 'complete'`, 30*time.Second)
	eval(`window.tugMark = 2`)
	wait("both releases live", `document.querySelectorAll('#live-release .release').length == 2`, 60*time.Second)
	shot("service-canary")
	wait("the new release alone", `(function(){var r=document.querySelectorAll('#live-release .release');return r.length==1 && r[0].textContent != `+fmt.Sprintf("%q", first.ID)+` && window.tugMark == 2})()`, 90*time.Second)
	shot("service-deployed")
	t.Logf("live after the deploy: %s", text("#live-release"))

	// Roll back, and see the first release come back.
	do("rollback", chromedp.Click(chromedp.CSS(`#rollback`)))
	wait("the page after the rollback form", `location.search.includes('flash=rollback')`, 30*time.Second)
	wait("the first release back", `(function(){var r=document.querySelectorAll('#live-release .release');return r.length==1 && r[0].textContent == `+fmt.Sprintf("%q", first.ID)+`})()`, 90*time.Second)
	shot("service-rolled-back")

	// A running pipeline: its log lines arrive while the page is open.
	info, err := c.StartRun(ctx, runner.StartRequest{Pipeline: "ci", Who: "test"})
	if err != nil {
		t.Fatalf("start run: %v", err)
	}
	do("the run", chromedp.Navigate(fmt.Sprintf("%s/runs/%d", base, info.ID)), chromedp.WaitVisible(chromedp.CSS(`svg.dag`)))
	eval(`window.tugMark = 3`)
	wait("log lines arriving", `document.querySelector('#log').textContent.includes('line-12') && !document.querySelector('#log').textContent.includes('line-60') && document.querySelector('#log b') == null && window.tugMark == 3`, 60*time.Second)
	shot("run-live")
	wait("the run's end", `document.querySelector('#jobs').textContent.includes('success') && document.querySelector('#log').textContent.includes('line-60') && window.tugMark == 3`, 60*time.Second)
	shot("run-done")

	for _, pg := range []struct{ name, path, sel string }{
		{"pipelines", "/pipelines", "#runs table"},
		{"alerts", "/alerts", "#alerts table"},
		{"incidents", "/incidents", "h1"},
		{"dashboards", "/dashboards", "h1"},
		{"explorer", "/explore?q=" + "sum%20by%20(release)%20(tug_proxy_requests_total)", "h1"},
		{"explorer-bad", "/explore?q=sum(", "#query-error"},
	} {
		do(pg.name, chromedp.Navigate(base+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.sel)))
		shot(pg.name)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Fatalf("JavaScript errors:\n%s", strings.Join(jsErrors, "\n"))
	}
}
