package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/runner"
)

// serverDeployer runs pipeline deploy jobs through the server's API:
// `tug run` needs no server, except for jobs with `deploy:`.
type serverDeployer struct{ a *app }

var _ pipeline.Deployer = serverDeployer{}

// deployJobs is the pipeline.Deployer of `tug run`.
func (a *app) deployJobs() pipeline.Deployer { return serverDeployer{a} }

// Deploy implements pipeline.Deployer.
func (d serverDeployer) Deploy(ctx context.Context, req pipeline.DeployRequest, out io.Writer) error {
	service, environment := req.Service, req.Environment
	c, err := d.a.apiClient()
	if err == nil {
		_, err = c.Health(ctx)
	}
	if err != nil {
		if errors.Is(err, api.ErrUnreachable) {
			return fmt.Errorf("deploy jobs need the tug server: %w; start it with `tug server` (or `tug up`) beside tug.yaml, or pass --server URL", err)
		}
		return err
	}
	follow := runner.FollowDeploy(req, out)
	rel, err := c.Deploy(ctx, api.DeployRequest{Service: service, Environment: environment, Version: req.Revision,
		Smoke: req.Smoke, Who: "pipeline (" + d.a.who() + ")"}, follow)
	if err != nil {
		var e *endpoint.Error
		if errors.As(err, &e) && rel != nil && rel.Reason != "" {
			return fmt.Errorf("deploy of %s %s to %s failed: %s", service, rel.ID, rel.Environment, rel.Reason)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following the deploy of %s (it goes on in the server; see `tug releases %s`): %w", service, service, ctx.Err())
		}
		return d.a.serverErr(err)
	}
	fmt.Fprintf(out, "%s %s is %s in %s\n", service, rel.ID, rel.Status, rel.Environment)
	return nil
}
