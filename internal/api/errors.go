package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/secretstore"
	"github.com/tugdev/tug/internal/store"
)

// errorCodes is the one table from the rooms' sentinel errors to the
// API's error codes (endpoint.Code, which gives the HTTP status). Order
// matters: the first match wins.
func errorCodes() []endpoint.ErrorCode {
	return []endpoint.ErrorCode{
		{Err: config.ErrInvalid, Code: endpoint.CodeInvalidConfig},
		{Err: ErrNotApplied, Code: endpoint.CodeConfigNotApplied},
		{Err: deploy.ErrUnknownService, Code: endpoint.CodeUnknownService},
		{Err: deploy.ErrUnknownEnvironment, Code: endpoint.CodeUnknownEnvironment},
		{Err: store.ErrNotFound, Code: endpoint.CodeNotFound},
		{Err: store.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: alert.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: alert.ErrNotFound, Code: endpoint.CodeNotFound},
		{Err: logs.ErrBadQuery, Code: endpoint.CodeBadRequest},
		{Err: flags.ErrUnknownFlag, Code: endpoint.CodeNotFound},
		{Err: flags.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: flags.ErrNoFlags, Code: endpoint.CodeUnavailable},
		{Err: incident.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: incident.ErrRunbook, Code: endpoint.CodeBadRequest},
		{Err: incident.ErrNotFound, Code: endpoint.CodeNotFound},
		{Err: incident.ErrBadToken, Code: endpoint.CodeUnauthorized},
		{Err: incident.ErrState, Code: endpoint.CodeInvalidState},
		{Err: incident.ErrRunEnded, Code: endpoint.CodeInvalidState},
		{Err: incident.ErrNoIncidents, Code: endpoint.CodeUnavailable},
		{Err: deploy.ErrNothingLive, Code: endpoint.CodeInvalidState},
		{Err: deploy.ErrNoInstance, Code: endpoint.CodeNotFound},
		{Err: deploy.ErrBusy, Code: endpoint.CodeBusy},
		{Err: deploy.ErrNoPrevious, Code: endpoint.CodeNoPreviousRelease},
		{Err: deploy.ErrNotAwaiting, Code: endpoint.CodeNotAwaiting},
		{Err: deploy.ErrFailedElsewhere, Code: endpoint.CodeFailedElsewhere},
		{Err: deploy.ErrOwnApproval, Code: endpoint.CodeForbidden},
		{Err: deploy.ErrFailed, Code: endpoint.CodeDeployFailed},
		{Err: secret.ErrMissing, Code: endpoint.CodeBadRequest},
		{Err: secret.ErrGone, Code: endpoint.CodeNotFound},
		{Err: secretstore.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: secretstore.ErrVaultBackend, Code: endpoint.CodeBadRequest},
		{Err: secretstore.ErrSealed, Code: endpoint.CodeBadRequest},
		{Err: secretstore.ErrNotFound, Code: endpoint.CodeNotFound},
		{Err: secretstore.ErrNoSecrets, Code: endpoint.CodeUnavailable},
		{Err: secretstore.ErrNoKey, Code: endpoint.CodeUnavailable},
		{Err: secretstore.ErrWrongKey, Code: endpoint.CodeUnavailable},
		{Err: secretstore.ErrDamaged, Code: endpoint.CodeUnavailable},
		{Err: secretstore.ErrVault, Code: endpoint.CodeUnavailable},
		{Err: runner.ErrNoRun, Code: endpoint.CodeNotFound},
		{Err: runner.ErrUnknownRepository, Code: endpoint.CodeNotFound},
		{Err: runner.ErrBadRequest, Code: endpoint.CodeBadRequest},
		{Err: runner.ErrEventRefused, Code: endpoint.CodeBadRequest},
		{Err: runner.ErrFinished, Code: endpoint.CodeBadRequest},
		{Err: pipeline.ErrUnknownPipeline, Code: endpoint.CodeBadRequest},
		{Err: pipeline.ErrUnknownJob, Code: endpoint.CodeBadRequest},
		{Err: forge.ErrSignature, Code: endpoint.CodeUnauthorized},
		{Err: forge.ErrPayload, Code: endpoint.CodeBadRequest},
		{Err: runner.ErrNoQueue, Code: endpoint.CodeUnavailable},
		{Err: backup.ErrUnknown, Code: endpoint.CodeNotFound},
		{Err: backup.ErrBusy, Code: endpoint.CodeBusy},
		{Err: backup.ErrBadRequest, Code: endpoint.CodeBadRequest},
		{Err: backup.ErrNoBackups, Code: endpoint.CodeUnavailable},
		{Err: backup.ErrNoRestic, Code: endpoint.CodeUnavailable},
		{Err: backup.ErrNoPostgres, Code: endpoint.CodeUnavailable},
		{Err: forge.ErrNoHooks, Code: endpoint.CodeUnavailable},
		{Err: alert.ErrNoEngine, Code: endpoint.CodeUnavailable},
		{Err: logs.ErrNoLogs, Code: endpoint.CodeUnavailable},
		{Err: metrics.ErrNoMonitor, Code: endpoint.CodeUnavailable},
		{Err: errNoMetrics, Code: endpoint.CodeUnavailable},
		{Err: proxy.ErrUnreachable, Code: endpoint.CodeProxyUnreachable},
		{Err: access.ErrUnauthorized, Code: endpoint.CodeUnauthorized},
		{Err: access.ErrInvalid, Code: endpoint.CodeBadRequest},
		{Err: access.ErrNotFound, Code: endpoint.CodeNotFound},
		{Err: access.ErrNoTokens, Code: endpoint.CodeUnavailable},
		{Err: audit.ErrBadQuery, Code: endpoint.CodeBadRequest},
		{Err: audit.ErrNoLog, Code: endpoint.CodeUnavailable},
		{Err: doctor.ErrUnavailable, Code: endpoint.CodeUnavailable},
		{Err: context.Canceled, Code: endpoint.CodeCancelled},
		{Err: context.DeadlineExceeded, Code: endpoint.CodeTimeout},
		{Err: errors.ErrUnsupported, Code: endpoint.CodeNotImplemented},
	}
}

// describe is the error answer for err, as the Router writes it.
func describe(err error) *endpoint.Error {
	return endpoint.Describe(err, errorCodes(), configDetails)
}

// configDetails lists the positioned problems of a config error.
func configDetails(err error) []endpoint.Detail {
	var list config.Errors
	var one *config.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = config.Errors{one}
	default:
		return nil
	}
	out := make([]endpoint.Detail, len(list))
	for i, c := range list {
		out[i] = endpoint.Detail{File: c.File, Line: c.Pos.Line, Col: c.Pos.Col, Path: c.Path, Message: c.Msg}
	}
	return out
}

// badRequest is an error with code bad_request.
func badRequest(format string, args ...any) error {
	return endpoint.Failf(endpoint.CodeBadRequest, format, args...)
}

// errNoMetrics: the server was built without a metrics handler.
var errNoMetrics = errors.New("this server exposes no metrics")

// errEndedEarly: a deploy's answer ended before its final line.
var errEndedEarly = fmt.Errorf("%w: the server ended the answer before the deploy finished", ErrUnreachable)
