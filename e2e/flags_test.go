package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// flagsYAML: one service and one flag served on in production.
const flagsYAML = `version: 1
project: e2e-flags
services:
  web:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["web.test"]
    deploy: {strategy: rolling, drain_timeout: 1s}
environments:
  production: {}
flags:
  new-checkout:
    type: boolean
    variants: {on: true, off: false}
    default: on
`

// instanceEnv reads one variable of a running instance's environment.
func instanceEnv(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	t.Fatalf("instance %d has no %s", pid, name)
	return ""
}

// ofrepAnswer is the part of an OFREP single-flag answer the test reads.
type ofrepAnswer struct {
	Value  any    `json:"value"`
	Reason string `json:"reason"`
}

// evaluate asks the proxy for one flag over OFREP, as a service would.
func evaluate(url, key, flag string) (int, ofrepAnswer, error) {
	req, err := http.NewRequest("POST", url+"/ofrep/v1/evaluate/flags/"+flag, bytes.NewReader([]byte(`{"context":{"targetingKey":"user-1"}}`)))
	if err != nil {
		return 0, ofrepAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ofrepAnswer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a ofrepAnswer
	if resp.StatusCode == 200 {
		err = json.Unmarshal(body, &a)
	}
	return resp.StatusCode, a, err
}

// TestFlagsSurviveAKilledServer: a kill switch thrown through the real
// binary reaches the proxy; with the server SIGKILLed the data plane keeps
// answering with that last flag set; the next server still holds the
// override and pushes the next change.
func TestFlagsSurviveAKilledServer(t *testing.T) {
	t.Parallel()
	p := newProject(t, flagsYAML, goodVersions())
	p.startServer()
	p.deploy("web", "v1")
	pids := p.appProcesses()
	if len(pids) != 1 {
		t.Fatalf("app processes: %v", pids)
	}
	url, key := instanceEnv(t, pids[0], "TUG_FLAGS_URL"), instanceEnv(t, pids[0], "TUG_FLAGS_KEY")
	serves := func(want bool, reason string) func() bool {
		return func() bool {
			code, a, err := evaluate(url, key, "new-checkout")
			return err == nil && code == 200 && a.Value == want && (reason == "" || a.Reason == reason)
		}
	}
	if !serves(true, "")() {
		code, a, err := evaluate(url, key, "new-checkout")
		t.Fatalf("before the kill switch: %d %+v %v", code, a, err)
	}

	if out, errOut, err := p.tug("flags", "kill", "new-checkout"); err != nil {
		t.Fatalf("tug flags kill: %v\n%s%s", err, out, errOut)
	}
	testkit.Eventually(t, time.Second, "the kill switch to reach the proxy", serves(false, "DISABLED"))

	p.killServer() // SIGKILL
	for i := range 20 {
		if !serves(false, "DISABLED")() {
			code, a, err := evaluate(url, key, "new-checkout")
			t.Fatalf("evaluation %d with the server killed: %d %+v %v", i, code, a, err)
		}
	}

	p.startServer()
	out, errOut, err := p.tug("flags", "ls", "--env", "production", "--json")
	if err != nil || !strings.Contains(out, `"override":{"kill":true`) {
		t.Fatalf("after the restart, tug flags ls: %v\n%s%s", err, out, errOut)
	}
	if !serves(false, "DISABLED")() {
		t.Fatal("the restarted server changed what the proxy serves")
	}
	if out, errOut, err := p.tug("flags", "reset", "new-checkout", "--env", "production"); err != nil {
		t.Fatalf("tug flags reset: %v\n%s%s", err, out, errOut)
	}
	testkit.Eventually(t, time.Second, "the reset to reach the proxy", serves(true, ""))
}
