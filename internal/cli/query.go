package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
)

// newQueryCmd is `tug query EXPR`: PromQL against the server's metrics,
// through the same Prometheus-compatible API Grafana uses.
func newQueryCmd(a *app) *cobra.Command {
	var rangeDur, step time.Duration
	cmd := &cobra.Command{
		Use:   "query EXPR",
		Short: "Evaluate a PromQL expression over tug's metrics",
		Long: "Evaluate a PromQL expression now, or over the last --range at --step\n" +
			"resolution. Prints one line per series; --json prints Prometheus's data.",
		Example: "  tug query 'service:error_ratio:rate5m'\n  tug query 'rate(tug_proxy_requests_total[5m])' --range 1h --step 1m",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			expr := strings.TrimSpace(args[0])
			if expr == "" {
				return badInputf("query: empty expression")
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			now := time.Now()
			form := url.Values{"query": {expr}}
			path := "/api/v1/query"
			if rangeDur > 0 {
				if step == 0 {
					step = 15 * time.Second
				}
				// Prometheus refuses more than 11,000 points per series.
				if rangeDur/step > 11000 {
					return badInputf("query: --range %s at --step %s is over 11,000 points; raise --step", rangeDur, step)
				}
				path = "/api/v1/query_range"
				form.Set("start", promTime(now.Add(-rangeDur)))
				form.Set("end", promTime(now))
				form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
			} else {
				form.Set("time", promTime(now))
			}
			var resp queryResponse
			if err := c.Do(cmd.Context(), http.MethodGet, path+"?"+form.Encode(), nil, &resp); err != nil {
				return queryError(err)
			}
			if resp.Status != "success" {
				return fmt.Errorf("query: %s: %s", resp.ErrorType, resp.Error)
			}
			if a.jsonOut {
				return writeJSONTo(a, resp.Data)
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(a.errOut, "warning:", w)
			}
			return printQueryResult(a, resp.Data)
		},
	}
	durationVar(cmd.Flags(), &rangeDur, "range", 0, "evaluate over this long a window ending now (e.g. 1h)")
	durationVar(cmd.Flags(), &step, "step", 0, "resolution of a --range query (default 15s)")
	return cmd
}

// queryResponse is Prometheus's envelope.
type queryResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// queryError turns a Prometheus error answer into tug's: bad_data (a bad
// expression) is bad input, exit code 2.
func queryError(err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err
	}
	msg := ae.Message
	if i := strings.Index(msg, "{"); i >= 0 {
		var env queryResponse
		if json.Unmarshal([]byte(msg[i:]), &env) == nil && env.Error != "" {
			msg = env.Error
		}
	}
	if ae.Status == http.StatusBadRequest {
		return badInputf("query: %s", msg)
	}
	return fmt.Errorf("query: %s", msg)
}

func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// printQueryResult prints a vector as "series value" lines, a matrix as
// each series followed by "time value" lines, a scalar or string alone.
func printQueryResult(a *app, raw json.RawMessage) error {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return fmt.Errorf("query: unexpected answer: %w", err)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		if len(vec) == 0 {
			fmt.Fprintln(a.out, "No data.")
		}
		for _, s := range vec {
			fmt.Fprintf(a.out, "%s  %s\n", seriesName(s.Metric), pointValue(s.Value))
		}
	case "matrix":
		var mat []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		if err := json.Unmarshal(data.Result, &mat); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		if len(mat) == 0 {
			fmt.Fprintln(a.out, "No data.")
		}
		for _, s := range mat {
			fmt.Fprintln(a.out, seriesName(s.Metric))
			for _, p := range s.Values {
				ts, _ := p[0].(float64)
				fmt.Fprintf(a.out, "  %s  %s\n", time.UnixMilli(int64(ts*1000)).Local().Format("2006-01-02 15:04:05"), pointValue(p))
			}
		}
	default: // scalar, string: [t, "v"]
		var p [2]any
		if err := json.Unmarshal(data.Result, &p); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		fmt.Fprintln(a.out, pointValue(p))
	}
	return nil
}

// seriesName renders labels as PromQL would: name{k="v", ...}.
func seriesName(m map[string]string) string {
	name := m["__name__"]
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != "__name__" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
		}
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

func pointValue(p [2]any) string {
	if s, ok := p[1].(string); ok {
		return s
	}
	return fmt.Sprint(p[1])
}
