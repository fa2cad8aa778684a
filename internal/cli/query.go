package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/metrics"
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
			if rangeDur < 0 || step < 0 {
				return badInputf("query: --range and --step must be positive")
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			now := time.Now()
			var resp metrics.Response[metrics.QueryResult]
			if rangeDur > 0 {
				if step == 0 {
					step = 15 * time.Second
				}
				// Prometheus refuses more than 11,000 points per series.
				if rangeDur/step > 11000 {
					return badInputf("query: --range %s at --step %s is over 11,000 points; raise --step", rangeDur, step)
				}
				resp, err = c.QueryRange(cmd.Context(), metrics.RangeParams{Query: expr, Start: promTime(now.Add(-rangeDur)),
					End: promTime(now), Step: strconv.FormatFloat(step.Seconds(), 'f', -1, 64)})
			} else {
				resp, err = c.Query(cmd.Context(), metrics.QueryParams{Query: expr, Time: promTime(now)})
			}
			if err != nil {
				return a.queryError(err)
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

// queryError turns a Prometheus error answer into tug's: bad_data (a bad
// expression) is bad input, exit code 2.
func (a *app) queryError(err error) error {
	var ae *endpoint.Error
	if !errors.As(err, &ae) {
		return a.serverErr(err)
	}
	if ae.Status == http.StatusBadRequest {
		return badInputf("query: %s", ae.Message)
	}
	return fmt.Errorf("query: %s", ae.Message)
}

func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// printQueryResult prints a vector as "series value" lines, a matrix as
// each series followed by "time value" lines, a scalar or string alone.
// The result reads into Prometheus's own client types.
func printQueryResult(a *app, data metrics.QueryResult) error {
	switch data.ResultType {
	case "vector":
		var vec model.Vector
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		if len(vec) == 0 {
			fmt.Fprintln(a.out, "No data.")
		}
		for _, s := range vec {
			val := s.Value.String()
			if s.Histogram != nil {
				val = s.Histogram.String()
			}
			fmt.Fprintf(a.out, "%s  %s\n", seriesName(s.Metric), val)
		}
		return nil
	case "matrix":
		var mat model.Matrix
		if err := json.Unmarshal(data.Result, &mat); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		if len(mat) == 0 {
			fmt.Fprintln(a.out, "No data.")
		}
		for _, s := range mat {
			fmt.Fprintln(a.out, seriesName(s.Metric))
			for _, p := range s.Values {
				fmt.Fprintf(a.out, "  %s  %s\n", p.Timestamp.Time().Local().Format("2006-01-02 15:04:05"), p.Value)
			}
		}
		return nil
	case "scalar":
		var sc model.Scalar
		if err := json.Unmarshal(data.Result, &sc); err != nil {
			return fmt.Errorf("query: unexpected answer: %w", err)
		}
		_, err := fmt.Fprintln(a.out, sc.Value)
		return err
	}
	var str model.String
	if err := json.Unmarshal(data.Result, &str); err != nil {
		return fmt.Errorf("query: unexpected answer: %w", err)
	}
	_, err := fmt.Fprintln(a.out, str.Value)
	return err
}

// seriesName renders labels as PromQL would: name{k="v", ...}.
func seriesName(m model.Metric) string {
	name := string(m[model.MetricNameLabel])
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != model.MetricNameLabel {
			parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
		}
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}
