package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/testkit"
)

// TestDurationMeansTheSameEverywhere drives the one table of the duration
// syntax through every place a user types a duration: tug.yaml, `tug logs
// --since`, `tug silence add --for`, and the API's parameters (the
// silences and logs APIs, and the Prometheus-compatible query API). Each
// accepts the same strings with the same meaning, and refuses the same
// strings with the same words.
func TestDurationMeansTheSameEverywhere(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	_, alertURL := alertServer(t, t.TempDir(), now)

	// The logs API as the server runs it: logs.ParseQuery reads since.
	var mu sync.Mutex
	var gotSince time.Time
	logsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := logs.Params{Service: "web", Since: r.URL.Query().Get("since")}.Query(now)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		gotSince = q.Since
		mu.Unlock()
	}))
	t.Cleanup(logsSrv.Close)

	m, err := metrics.New(metrics.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	promH, err := api.NewHandler(api.Options{Monitor: m})
	if err != nil {
		t.Fatal(err)
	}
	promSrv := httptest.NewServer(promH)
	t.Cleanup(promSrv.Close)

	for _, c := range testkit.DurationCases {
		t.Run(strconv.Quote(c.In), func(t *testing.T) {
			check := func(where string, got time.Duration, err error) {
				t.Helper()
				switch {
				case c.Err != "" && err == nil:
					t.Errorf("%s: accepted %q as %v, want error %q", where, c.In, got, c.Err)
				case c.Err != "" && !strings.Contains(err.Error(), c.Err):
					t.Errorf("%s: error %q, want it to say %q", where, err, c.Err)
				case c.Err == "" && err != nil:
					t.Errorf("%s: %q refused: %v", where, c.In, err)
				case c.Err == "" && got != c.Want:
					t.Errorf("%s: %q means %v, want %v", where, c.In, got, c.Want)
				}
			}

			// tug.yaml
			yml := fmt.Sprintf("version: 1\nalerts:\n  - alert: Down\n    expr: up == 0\n    severity: P1\n    for: %q\n", c.In)
			cfg, err := config.Parse("tug.yaml", []byte(yml), config.LoadOptions{})
			var d time.Duration
			if err == nil {
				d = cfg.Alerts[0].For.D()
			}
			check("tug.yaml", d, err)

			// tug logs --since, and the logs API behind it.
			code, _, errOut := runTug(t, "--server", logsSrv.URL, "logs", "web", "--since", c.In)
			err, d = nil, 0
			if code != 0 {
				err = fmt.Errorf("exit %d: %s", code, errOut)
			} else {
				mu.Lock()
				d = now.Sub(gotSince)
				mu.Unlock()
			}
			check("tug logs --since", d, err)
			_, err = logs.Params{Service: "web", Since: c.In}.Query(now)
			if c.Err != "" {
				check("logs API since", 0, err)
			}

			// tug silence add --for, and the silences API behind it.
			code, out, errOut := runTug(t, "--server", alertURL, "--json", "silence", "add", "alertname=Down", "--for", c.In)
			err, d = nil, 0
			if code != 0 {
				err = fmt.Errorf("exit %d: %s", code, errOut)
			} else {
				var s alert.Silence
				if jerr := json.Unmarshal([]byte(out), &s); jerr != nil {
					t.Fatalf("silence add --json: %v: %s", jerr, out)
				}
				d = s.EndsAt.Sub(s.StartsAt)
			}
			if c.Err == "" && c.Want == 0 {
				// A silence must last: zero is refused, by its own rule.
				if err == nil || !strings.Contains(err.Error(), "must be positive") {
					t.Errorf("silence add --for 0: %v", err)
				}
			} else {
				check("tug silence add --for", d, err)
			}
			d, err = postSilence(alertURL, c.In)
			if c.Want != 0 || c.Err != "" {
				check("silences API duration", d, err)
			}

			// Flags that hold a duration: refused with the same words,
			// before anything else happens.
			state := filepath.Join(t.TempDir(), "none")
			for _, args := range [][]string{
				{"--state-dir", state, "cache", "prune", "--older-than", c.In},
				{"--server", "http://127.0.0.1:1", "query", "up", "--range", c.In},
				{"--server", "http://127.0.0.1:1", "query", "up", "--range", "1h", "--step", c.In},
			} {
				code, _, errOut := runTug(t, args...)
				switch {
				case c.Err != "" && (code != exitBadInput || !strings.Contains(errOut, c.Err)):
					t.Errorf("tug %s: exit %d, %q; want exit %d saying %q", strings.Join(args, " "), code, errOut, exitBadInput, c.Err)
				case c.Err == "" && strings.Contains(errOut, "invalid duration"):
					t.Errorf("tug %s: %q refused: %s", strings.Join(args, " "), c.In, errOut)
				}
			}

			// The query API's step, where Prometheus's clients also send
			// float seconds (so bare numbers are theirs), and a step must
			// be at least a millisecond.
			if bareNumber(c.In) || c.Err == "" && c.Want < time.Millisecond {
				return
			}
			d, err = queryStep(promSrv.URL, c.In, c.Want)
			check("query API step", d, err)
		})
	}
}

// postSilence asks the silences API for a silence of duration dur and
// returns how long the silence it made lasts.
func postSilence(base, dur string) (time.Duration, error) {
	body := fmt.Sprintf(`{"matchers": "alertname=Down", "duration": %q}`, dur)
	resp, err := http.Post(base+"/api/silences", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Silence alert.Silence `json:"silence"`
		Error   any           `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("%s: %v", resp.Status, r.Error)
	}
	return r.Silence.EndsAt.Sub(r.Silence.StartsAt), nil
}

// queryStep runs a range query of vector(1) from 0 over two steps of
// step and returns the spacing of the points it got.
func queryStep(base, step string, want time.Duration) (time.Duration, error) {
	end := 2 * want
	if end <= 0 {
		end = time.Hour
	}
	v := url.Values{"query": {"vector(1)"}, "start": {"0"}, "end": {strconv.FormatFloat(end.Seconds(), 'f', -1, 64)}, "step": {step}}
	resp, err := http.Get(base + "/api/v1/query_range?" + v.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	if len(r.Data.Result) != 1 || len(r.Data.Result[0].Values) < 2 {
		return 0, fmt.Errorf("unexpected result %+v", r.Data)
	}
	vals := r.Data.Result[0].Values
	t0, _ := vals[0][0].(float64)
	t1, _ := vals[1][0].(float64)
	return time.Duration((t1-t0)*1000) * time.Millisecond, nil
}

// bareNumber: a number without a unit, which the query API reads as
// seconds, as Prometheus does.
func bareNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil && strings.TrimSpace(s) != ""
}

// TestDurationFlagPrintsWhatItReads: a duration flag's value (as help
// shows a default) is in the syntax the flag reads back.
func TestDurationFlagPrintsWhatItReads(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0", 2 * time.Hour: "2h", 90 * time.Second: "1m30s", 36 * time.Hour: "36h",
		1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		v := durationValue{&d}
		if got := v.String(); got != want {
			t.Errorf("%v prints as %q, want %q", d, got, want)
		}
		var back time.Duration
		if err := (durationValue{&back}).Set(v.String()); err != nil || back != d {
			t.Errorf("%q reads back as %v, %v", v.String(), back, err)
		}
	}
}
