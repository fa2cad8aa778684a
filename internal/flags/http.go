package flags

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/store"
)

// Parameters and answers of the flags API.
type (
	// ListParams select GET /api/flags.
	ListParams struct {
		Env string `query:"env" doc:"only this environment"`
	}
	// NameParams name one flag.
	NameParams struct {
		Name string `path:"name" doc:"the flag's name in tug.yaml"`
	}
	// EnvRequest is the body of kill and reset.
	EnvRequest struct {
		// Environment is the one to change; empty: every environment.
		Environment string `json:"environment,omitempty"`
		Who         string `json:"who,omitempty"`
	}
	// FlagsResponse is GET /api/flags and the answer of every change: the
	// flags (in the environments) concerned, as served now.
	FlagsResponse struct {
		Flags []FlagState `json:"flags"`
		// Slow names the environment variables the change alters, which
		// reach the services only as they roll.
		Slow []string `json:"slow,omitempty"`
	}
	// HistoryParams select GET /api/flags/history.
	HistoryParams struct {
		Flag    string `query:"flag" doc:"only this flag"`
		Service string `query:"service" doc:"only changes reaching this service"`
		Env     string `query:"env" doc:"only this environment"`
		Since   string `query:"since" doc:"only changes newer than this: a duration back from now (10m, 7d) or an RFC 3339 time"`
		Limit   int    `query:"limit" doc:"at most this many of the newest (0: all)"`
	}
	// HistoryResponse is GET /api/flags/history.
	HistoryResponse struct {
		Changes []store.FlagChange `json:"changes"`
	}
	// ReportParams select GET /api/flags/{name}/report.
	ReportParams struct {
		Name       string `path:"name" doc:"the flag's name in tug.yaml"`
		Env        string `query:"env" doc:"the environment (default: the first declared)"`
		Metric     string `query:"metric,required" doc:"PromQL summing a variant's outcomes (its successes, or with squares its values), with $VARIANT"`
		Total      string `query:"total" doc:"PromQL counting a variant's trials, with $VARIANT (default: its evaluations over range)"`
		Squares    string `query:"squares" doc:"PromQL summing the squares of a variant's values, with $VARIANT, when metric sums values rather than successes"`
		Range      string `query:"range" doc:"the window of the default total (default 1d)"`
		Confidence int    `query:"confidence" doc:"the confidence in percent a difference needs to count (default 95)"`
	}
)

// The flags API's operations.
var (
	OpList = endpoint.Declare[ListParams, endpoint.None, FlagsResponse](
		http.MethodGet, "/api/flags", endpoint.Viewer, "Every flag per environment: what it serves, what tug.yaml says, its override and ramp.")
	OpSet = endpoint.Declare[NameParams, SetRequest, FlagsResponse](
		http.MethodPost, "/api/flags/{name}/set", endpoint.Deployer, "Override a flag in one environment: a variant, a rollout percentage, or both; in force at the proxy at once, until reset.")
	OpKill = endpoint.Declare[NameParams, EnvRequest, FlagsResponse](
		http.MethodPost, "/api/flags/{name}/kill", endpoint.Deployer, "Kill switch: everyone gets the flag's off variant, in one environment or all.").OptionalBody()
	OpReset = endpoint.Declare[NameParams, EnvRequest, FlagsResponse](
		http.MethodPost, "/api/flags/{name}/reset", endpoint.Deployer, "Drop a flag's run-time override: back to tug.yaml, in one environment or all.").OptionalBody()
	OpHistory = endpoint.Declare[HistoryParams, endpoint.None, HistoryResponse](
		http.MethodGet, "/api/flags/history", endpoint.Viewer, "Flag changes (overrides, kills, resets, ramp steps and halts, tug.yaml), oldest first, with who, before and after.")
	OpReport = endpoint.Declare[ReportParams, endpoint.None, Report](
		http.MethodGet, "/api/flags/{name}/report", endpoint.Viewer, "An experiment's outcome per variant, and whether each variant differs from the control significantly (Welch's t-test).")
)

// ErrNoFlags answers the flags API of a server that runs no flags room.
var ErrNoFlags = errors.New("this server runs no feature flags")

// Ops binds the flags API to m (nil answers ErrNoFlags).
func Ops(m *Manager) []endpoint.Op {
	on := func() (*Manager, error) {
		if m == nil {
			return nil, ErrNoFlags
		}
		return m, nil
	}
	answer := func(m *Manager, states []FlagState, err error) (FlagsResponse, error) {
		if err != nil {
			return FlagsResponse{}, err
		}
		r := FlagsResponse{Flags: states}
		if r.Flags == nil {
			r.Flags = []FlagState{}
		}
		for _, s := range states {
			if s.Env != "" {
				r.Slow = append(r.Slow, s.Env)
			}
		}
		return r, nil
	}
	return []endpoint.Op{
		OpList.JSON(func(_ context.Context, p ListParams, _ endpoint.None) (FlagsResponse, error) {
			m, err := on()
			if err != nil {
				return FlagsResponse{}, err
			}
			states, err := m.List(p.Env)
			r, err := answer(m, states, err)
			r.Slow = nil
			return r, err
		}),
		OpSet.JSON(func(ctx context.Context, p NameParams, req SetRequest) (FlagsResponse, error) {
			m, err := on()
			if err != nil {
				return FlagsResponse{}, err
			}
			states, err := m.Set(ctx, p.Name, req)
			return answer(m, states, err)
		}),
		OpKill.JSON(func(ctx context.Context, p NameParams, req EnvRequest) (FlagsResponse, error) {
			m, err := on()
			if err != nil {
				return FlagsResponse{}, err
			}
			states, err := m.Kill(ctx, p.Name, req.Environment, req.Who)
			return answer(m, states, err)
		}),
		OpReset.JSON(func(ctx context.Context, p NameParams, req EnvRequest) (FlagsResponse, error) {
			m, err := on()
			if err != nil {
				return FlagsResponse{}, err
			}
			states, err := m.Reset(ctx, p.Name, req.Environment, req.Who)
			return answer(m, states, err)
		}),
		OpHistory.JSON(func(ctx context.Context, p HistoryParams, _ endpoint.None) (HistoryResponse, error) {
			m, err := on()
			if err != nil {
				return HistoryResponse{}, err
			}
			q := store.FlagChangeQuery{Flag: p.Flag, Service: p.Service, Environment: p.Env, Limit: p.Limit}
			if p.Limit < 0 {
				return HistoryResponse{}, fmt.Errorf("%w: limit %d: want a whole number >= 0", ErrInvalid, p.Limit)
			}
			if p.Since != "" {
				if t, err := time.Parse(time.RFC3339Nano, p.Since); err == nil {
					q.Since = t
				} else if d, err := kit.ParseDuration(p.Since); err == nil {
					q.Since = m.now().Add(-d)
				} else {
					return HistoryResponse{}, fmt.Errorf("%w: since: %v, or an RFC 3339 time", ErrInvalid, err)
				}
			}
			changes, err := m.History(ctx, q)
			if changes == nil {
				changes = []store.FlagChange{}
			}
			return HistoryResponse{changes}, err
		}),
		OpReport.JSON(func(ctx context.Context, p ReportParams, _ endpoint.None) (Report, error) {
			m, err := on()
			if err != nil {
				return Report{}, err
			}
			r, err := m.Report(ctx, p.Name, ReportRequest{Environment: p.Env, Metric: p.Metric, Total: p.Total, Squares: p.Squares, Range: p.Range, Confidence: float64(p.Confidence) / 100})
			if err != nil {
				return Report{}, err
			}
			return *r, nil
		}),
	}
}
