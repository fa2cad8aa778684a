package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/tugdev/tug/internal/endpoint"
)

// Answers and parameters of the alerting API.
type (
	// AlertsResponse is GET /api/alerts.
	AlertsResponse struct {
		Alerts []*Alert `json:"alerts"`
	}
	// AckResponse is POST /api/alerts/{id}/ack.
	AckResponse struct {
		Ack Ack `json:"ack"`
	}
	// HistoryResponse is GET /api/alerts/history.
	HistoryResponse struct {
		Notifications []Notification `json:"notifications"`
	}
	// SilencesResponse is GET /api/silences.
	SilencesResponse struct {
		Silences []Silence `json:"silences"`
	}
	// SilenceResponse is POST /api/silences and DELETE /api/silences/{id}.
	SilenceResponse struct {
		Silence Silence `json:"silence"`
	}
	// BudgetsResponse is GET /api/slo.
	BudgetsResponse struct {
		Budgets []Budget `json:"budgets"`
	}
	// IDParams names one alert or silence: its ID or a unique prefix.
	IDParams struct {
		ID string `path:"id" doc:"the ID or a unique prefix of it"`
	}
	// HistoryParams bound GET /api/alerts/history.
	HistoryParams struct {
		Limit int `query:"limit" doc:"at most this many, newest first (0: all)"`
	}
)

// The alerting API's operations.
var (
	OpAlerts = endpoint.Declare[endpoint.None, endpoint.None, AlertsResponse](
		http.MethodGet, "/api/alerts", endpoint.Viewer, "Firing and pending alerts, most severe first.")
	OpAck = endpoint.Declare[IDParams, AckRequest, AckResponse](
		http.MethodPost, "/api/alerts/{id}/ack", endpoint.Deployer, "Acknowledge a firing alert: no repeats until it resolves or fires again.").OptionalBody()
	OpHistory = endpoint.Declare[HistoryParams, endpoint.None, HistoryResponse](
		http.MethodGet, "/api/alerts/history", endpoint.Viewer, "Notifications sent, newest first, with their outcome.")
	OpSilences = endpoint.Declare[endpoint.None, endpoint.None, SilencesResponse](
		http.MethodGet, "/api/silences", endpoint.Viewer, "Every silence: pending, active and expired.")
	OpAddSilence = endpoint.Declare[endpoint.None, SilenceRequest, SilenceResponse](
		http.MethodPost, "/api/silences", endpoint.Admin, "Silence the alerts some label matchers select, for a while.")
	OpExpireSilence = endpoint.Declare[IDParams, endpoint.None, SilenceResponse](
		http.MethodDelete, "/api/silences/{id}", endpoint.Admin, "End a silence now.")
	OpBudgets = endpoint.Declare[endpoint.None, endpoint.None, BudgetsResponse](
		http.MethodGet, "/api/slo", endpoint.Viewer, "Error budgets of the services' SLOs.")
)

// ErrNoEngine answers the alerting API of a server that runs no alert
// engine.
var ErrNoEngine = errors.New("this server evaluates no alerts")

// Ops binds the alerting API to the engine live returns at each request
// (the server swaps engines on a config change); nil, or a nil engine,
// answers ErrNoEngine.
func Ops(live func() *Engine) []endpoint.Op {
	engine := func() (*Engine, error) {
		if live == nil {
			return nil, ErrNoEngine
		}
		if e := live(); e != nil {
			return e, nil
		}
		return nil, ErrNoEngine
	}
	return []endpoint.Op{
		OpAlerts.JSON(onEngine(engine, func(_ context.Context, e *Engine, _, _ endpoint.None) (AlertsResponse, error) {
			return AlertsResponse{nonNil(e.Alerts())}, nil
		})),
		OpAck.JSON(onEngine(engine, func(ctx context.Context, e *Engine, p IDParams, req AckRequest) (AckResponse, error) {
			ack, err := e.Acknowledge(ctx, p.ID, req)
			return AckResponse{ack}, err
		})),
		OpHistory.JSON(onEngine(engine, func(ctx context.Context, e *Engine, p HistoryParams, _ endpoint.None) (HistoryResponse, error) {
			if p.Limit < 0 {
				return HistoryResponse{}, fmt.Errorf("%w: limit %d: want a whole number >= 0", ErrInvalid, p.Limit)
			}
			ns, err := e.History(ctx, p.Limit)
			return HistoryResponse{nonNil(ns)}, err
		})),
		OpSilences.JSON(onEngine(engine, func(_ context.Context, e *Engine, _, _ endpoint.None) (SilencesResponse, error) {
			return SilencesResponse{nonNil(e.Silences())}, nil
		})),
		OpAddSilence.JSON(onEngine(engine, func(ctx context.Context, e *Engine, _ endpoint.None, req SilenceRequest) (SilenceResponse, error) {
			s, err := e.AddSilence(ctx, req)
			return SilenceResponse{s}, err
		})),
		OpExpireSilence.JSON(onEngine(engine, func(ctx context.Context, e *Engine, p IDParams, _ endpoint.None) (SilenceResponse, error) {
			s, err := e.ExpireSilence(ctx, p.ID)
			return SilenceResponse{s}, err
		})),
		OpBudgets.JSON(onEngine(engine, func(ctx context.Context, e *Engine, _, _ endpoint.None) (BudgetsResponse, error) {
			bs, err := e.Budgets(ctx)
			return BudgetsResponse{nonNil(bs)}, err
		})),
	}
}

// onEngine runs fn on the live engine.
func onEngine[P, B, R any](engine func() (*Engine, error), fn func(context.Context, *Engine, P, B) (R, error)) func(context.Context, P, B) (R, error) {
	return func(ctx context.Context, p P, b B) (R, error) {
		e, err := engine()
		if err != nil {
			var zero R
			return zero, err
		}
		return fn(ctx, e, p, b)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
