package api

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secretstore"
)

type none = endpoint.None

// Health checks the server answers.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	h, err := call(ctx, c, OpHealth, none{}, none{})
	return &h, err
}

// Status returns what is declared and what runs.
func (c *Client) Status(ctx context.Context) (*StatusResponse, error) {
	s, err := call(ctx, c, OpStatus, none{}, none{})
	return &s, err
}

// Deploy starts a deploy and waits for it, calling each with every
// progress event. A failed deploy returns the release (with its reason)
// and an *endpoint.Error whose Code is deploy_failed.
func (c *Client) Deploy(ctx context.Context, req DeployRequest, each func(deploy.Event)) (*deploy.Release, error) {
	return followRelease(ctx, c, OpDeploy, req, each)
}

// Rollback rolls a service back and waits, like Deploy.
func (c *Client) Rollback(ctx context.Context, req RollbackRequest, each func(deploy.Event)) (*deploy.Release, error) {
	return followRelease(ctx, c, OpRollback, req, each)
}

func followRelease[B any](ctx context.Context, c *Client, d endpoint.Decl[none, B, StreamLine], req B, each func(deploy.Event)) (*deploy.Release, error) {
	var final *StreamLine
	err := stream(ctx, c, d, none{}, req, func(line StreamLine) error {
		if line.Event != nil && each != nil {
			each(*line.Event)
		}
		if line.Done {
			final = &line
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if final == nil {
		return nil, errEndedEarly
	}
	if final.Error != nil {
		final.Error.Status = final.Status
		return final.Release, final.Error
	}
	return final.Release, nil
}

// Releases lists releases of service (env "" for all), newest first.
func (c *Client) Releases(ctx context.Context, service, env string) ([]deploy.Release, error) {
	return call(ctx, c, OpReleases, ReleasesParams{Service: service, Env: env}, none{})
}

// Approve lets a release waiting for approval proceed.
func (c *Client) Approve(ctx context.Context, id, who string) (*deploy.Release, error) {
	rel, err := call(ctx, c, OpApprove, ReleaseParams{ID: id}, ApproveRequest{Who: who})
	return &rel, err
}

// Reject fails a release waiting for approval.
func (c *Client) Reject(ctx context.Context, id, who string) (*deploy.Release, error) {
	rel, err := call(ctx, c, OpReject, ReleaseParams{ID: id}, ApproveRequest{Who: who})
	return &rel, err
}

// Down stops the services of env ("" for every environment).
func (c *Client) Down(ctx context.Context, env string) (*DownResponse, error) {
	r, err := call(ctx, c, OpDown, none{}, DownRequest{Environment: env})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Apply makes the server reload tug.yaml.
func (c *Client) Apply(ctx context.Context) (*ConfigResponse, error) {
	r, err := call(ctx, c, OpApply, none{}, none{})
	return &r, err
}

// Config is the config in force, as written.
func (c *Client) Config(ctx context.Context) (*ConfigResponse, error) {
	r, err := call(ctx, c, OpConfig, none{}, none{})
	return &r, err
}

// OpenAPI is the API's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (map[string]any, error) {
	return call(ctx, c, OpOpenAPI, none{}, none{})
}

// Metrics is the server's Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	return call(ctx, c, OpMetrics, none{}, none{})
}

// Alerts lists firing and pending alerts, most severe first.
func (c *Client) Alerts(ctx context.Context) ([]*alert.Alert, error) {
	r, err := call(ctx, c, alert.OpAlerts, none{}, none{})
	return r.Alerts, err
}

// Ack acknowledges the firing alert id (or a unique prefix).
func (c *Client) Ack(ctx context.Context, id string, req alert.AckRequest) (alert.Ack, error) {
	r, err := call(ctx, c, alert.OpAck, alert.IDParams{ID: id}, req)
	return r.Ack, err
}

// AlertHistory lists the notifications sent, newest first (limit 0: all).
func (c *Client) AlertHistory(ctx context.Context, limit int) ([]alert.Notification, error) {
	r, err := call(ctx, c, alert.OpHistory, alert.HistoryParams{Limit: limit}, none{})
	return r.Notifications, err
}

// Silences lists every silence.
func (c *Client) Silences(ctx context.Context) ([]alert.Silence, error) {
	r, err := call(ctx, c, alert.OpSilences, none{}, none{})
	return r.Silences, err
}

// AddSilence adds a silence.
func (c *Client) AddSilence(ctx context.Context, req alert.SilenceRequest) (alert.Silence, error) {
	r, err := call(ctx, c, alert.OpAddSilence, none{}, req)
	return r.Silence, err
}

// ExpireSilence ends the silence id (or a unique prefix) now.
func (c *Client) ExpireSilence(ctx context.Context, id string) (alert.Silence, error) {
	r, err := call(ctx, c, alert.OpExpireSilence, alert.IDParams{ID: id}, none{})
	return r.Silence, err
}

// Budgets lists the error budgets of the services' SLOs.
func (c *Client) Budgets(ctx context.Context) ([]alert.Budget, error) {
	r, err := call(ctx, c, alert.OpBudgets, none{}, none{})
	return r.Budgets, err
}

// Logs calls each with the lines p selects, and with p.Follow the lines
// stored later, until ctx ends.
func (c *Client) Logs(ctx context.Context, p logs.Params, each func(logs.Line) error) error {
	return stream(ctx, c, logs.OpLogs, p, none{}, each)
}

// Query evaluates PromQL at one time.
func (c *Client) Query(ctx context.Context, p metrics.QueryParams) (metrics.Response[metrics.QueryResult], error) {
	return call(ctx, c, metrics.OpQuery, p, none{})
}

// QueryRange evaluates PromQL over a time range.
func (c *Client) QueryRange(ctx context.Context, p metrics.RangeParams) (metrics.Response[metrics.QueryResult], error) {
	return call(ctx, c, metrics.OpQueryRange, p, none{})
}

// CreateToken makes an API token; the answer holds it, this once.
func (c *Client) CreateToken(ctx context.Context, req access.CreateRequest) (access.Created, error) {
	return call(ctx, c, access.OpCreateToken, none{}, req)
}

// Tokens lists every API token (never a token itself).
func (c *Client) Tokens(ctx context.Context) ([]access.Listed, error) {
	r, err := call(ctx, c, access.OpTokens, none{}, none{})
	return r.Tokens, err
}

// RevokeToken revokes the active token called name.
func (c *Client) RevokeToken(ctx context.Context, name string) (access.Listed, error) {
	r, err := call(ctx, c, access.OpRevokeToken, access.NameParams{Name: name}, none{})
	return r.Token, err
}

// Audit reads the audit records p selects, oldest first.
func (c *Client) Audit(ctx context.Context, p audit.Params) ([]audit.Record, error) {
	r, err := call(ctx, c, audit.OpRecords, p, none{})
	return r.Records, err
}

// VerifyAudit checks the audit log's hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Report, error) {
	return call(ctx, c, audit.OpVerify, none{}, none{})
}

// Security runs the security checks in the server.
func (c *Client) Security(ctx context.Context) (doctor.Report, error) {
	return call(ctx, c, doctor.OpSecurity, none{}, none{})
}

// Secrets lists the secrets in the store (env "" for all): names,
// versions, who and when; never values.
func (c *Client) Secrets(ctx context.Context, env string) ([]secretstore.Secret, error) {
	r, err := call(ctx, c, secretstore.OpList, secretstore.ListParams{Env: env}, none{})
	return r.Secrets, err
}

// SetSecret stores a new version of name (env "" for every environment).
func (c *Client) SetSecret(ctx context.Context, name string, req secretstore.SetRequest) (secretstore.Written, error) {
	return call(ctx, c, secretstore.OpSet, secretstore.NameParams{Name: name}, req)
}

// RevealSecret returns a secret's value; the server audits the call.
func (c *Client) RevealSecret(ctx context.Context, p secretstore.RevealParams) (secretstore.Revealed, error) {
	return call(ctx, c, secretstore.OpReveal, p, none{})
}

// RemoveSecret removes a secret's value.
func (c *Client) RemoveSecret(ctx context.Context, p secretstore.RemoveParams) (secretstore.Removed, error) {
	return call(ctx, c, secretstore.OpRemove, p, none{})
}

// ImportSecrets stores many values in one change.
func (c *Client) ImportSecrets(ctx context.Context, req secretstore.ImportRequest) ([]secretstore.Written, error) {
	r, err := call(ctx, c, secretstore.OpImport, none{}, req)
	return r.Written, err
}

// RotateSecret stores a new value and waits while the services using it
// are rolled onto it, calling each with every progress event.
func (c *Client) RotateSecret(ctx context.Context, name string, req secretstore.RotateRequestBody, each func(secretstore.Event)) (*secretstore.Rotated, error) {
	var res *secretstore.Rotated
	err := stream(ctx, c, secretstore.OpRotate, secretstore.NameParams{Name: name}, req, func(l secretstore.RotateLine) error {
		if l.Event != nil && each != nil {
			each(*l.Event)
		}
		if l.Done {
			res = l.Result
		}
		return nil
	})
	if err == nil && res == nil {
		err = fmt.Errorf("%w: the server ended the answer before the rotation finished", ErrUnreachable)
	}
	return res, err
}

// PruneSecrets drops all but the newest keep versions of each secret.
func (c *Client) PruneSecrets(ctx context.Context, req secretstore.PruneRequest) (secretstore.Pruned, error) {
	return call(ctx, c, secretstore.OpPrune, none{}, req)
}

// SecretKey is the server's public key, for secrets.recipients.
func (c *Client) SecretKey(ctx context.Context) (string, error) {
	r, err := call(ctx, c, secretstore.OpKey, none{}, none{})
	return r.Recipient, err
}

// StartRun queues a run on the server (`tug run --remote`).
func (c *Client) StartRun(ctx context.Context, req runner.StartRequest) (*runner.RunInfo, error) {
	r, err := call(ctx, c, runner.OpStartRun, none{}, req)
	return &r, err
}

// Runs lists runs, newest first.
func (c *Client) Runs(ctx context.Context, p runner.ListParams) ([]runner.RunInfo, error) {
	return call(ctx, c, runner.OpRuns, p, none{})
}

// Run is one run with its jobs.
func (c *Client) Run(ctx context.Context, id int64) (*runner.RunInfo, error) {
	r, err := call(ctx, c, runner.OpRun, runner.RunParams{ID: strconv.FormatInt(id, 10)}, none{})
	return &r, err
}

// FollowRun streams a run's log (of job, when named) until the run ends;
// the last event carries the run.
func (c *Client) FollowRun(ctx context.Context, id int64, job string, each func(runner.LogEvent)) error {
	return stream(ctx, c, runner.OpRunLogs, runner.LogParams{ID: strconv.FormatInt(id, 10), Job: job, Follow: true}, none{},
		func(l runner.LogEvent) error { each(l); return nil })
}

// RunLog calls each with every stored line of run id (job "" for every
// job), without following.
func (c *Client) RunLog(ctx context.Context, id int64, job string, each func(runner.LogEvent) error) error {
	return stream(ctx, c, runner.OpRunLogs, runner.LogParams{ID: strconv.FormatInt(id, 10), Job: job}, none{}, each)
}

// CancelRun cancels a queued or running server run.
func (c *Client) CancelRun(ctx context.Context, id int64, who string) (*runner.RunInfo, error) {
	r, err := call(ctx, c, runner.OpCancelRun, runner.RunParams{ID: strconv.FormatInt(id, 10)}, runner.CancelRequest{Who: who})
	return &r, err
}

// Push reports refs a git push moved; the server queues the runs they start.
func (c *Client) Push(ctx context.Context, req runner.PushRequest) (*runner.PushAnswer, error) {
	r, err := call(ctx, c, runner.OpPush, none{}, req)
	return &r, err
}

// BackupRun takes a backup now on the server.
func (c *Client) BackupRun(ctx context.Context, name string) (*backup.RunResult, error) {
	res, err := call(ctx, c, backup.OpRun, backup.NameParams{Name: name}, none{})
	return &res, err
}
