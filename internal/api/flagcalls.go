package api

import (
	"context"

	"github.com/tugdev/tug/internal/flags"
)

// Flags lists every flag in env ("" for every environment).
func (c *Client) Flags(ctx context.Context, env string) ([]flags.FlagState, error) {
	r, err := call(ctx, c, flags.OpList, flags.ListParams{Env: env}, none{})
	return r.Flags, err
}

// SetFlag overrides a flag in one environment.
func (c *Client) SetFlag(ctx context.Context, name string, req flags.SetRequest) (flags.FlagsResponse, error) {
	return call(ctx, c, flags.OpSet, flags.NameParams{Name: name}, req)
}

// KillFlag serves a flag's off variant in env ("" for every environment).
func (c *Client) KillFlag(ctx context.Context, name, env, who string) (flags.FlagsResponse, error) {
	return call(ctx, c, flags.OpKill, flags.NameParams{Name: name}, flags.EnvRequest{Environment: env, Who: who})
}

// ResetFlag drops a flag's override in env ("" for every environment).
func (c *Client) ResetFlag(ctx context.Context, name, env, who string) (flags.FlagsResponse, error) {
	return call(ctx, c, flags.OpReset, flags.NameParams{Name: name}, flags.EnvRequest{Environment: env, Who: who})
}

// FlagHistory lists the flag changes p selects, oldest first.
func (c *Client) FlagHistory(ctx context.Context, p flags.HistoryParams) (flags.HistoryResponse, error) {
	return call(ctx, c, flags.OpHistory, p, none{})
}

// FlagReport compares an outcome between a flag's variants.
func (c *Client) FlagReport(ctx context.Context, p flags.ReportParams) (flags.Report, error) {
	return call(ctx, c, flags.OpReport, p, none{})
}
