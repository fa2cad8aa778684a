package runner

import (
	"context"
	"fmt"
	"io"

	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/pipeline"
)

// FollowDeploy turns a deploy's progress into a deploy job's log lines
// and its waits for approval into the job's waiting state.
func FollowDeploy(req pipeline.DeployRequest, out io.Writer) func(deploy.Event) {
	waiting := false
	return func(e deploy.Event) {
		fmt.Fprintf(out, "%s %s: %s\n", e.Release, e.Phase, e.Message)
		switch {
		case e.Awaiting:
			waiting = true
			if req.Waiting != nil {
				req.Waiting(e.Message)
			}
		case waiting:
			waiting = false
			if req.Resumed != nil {
				req.Resumed()
			}
		}
	}
}

// Releaser is the deploy manager as server runs use it; *deploy.Manager
// implements it. Deploy blocks until the release is live or failed and
// reports progress through the callback. Resume, for a run the server
// stopped while it waited for approval, finds the release an earlier
// Deploy like req made: one awaiting approval is waited on as Deploy
// would have (found, and its outcome), one live already is answered;
// found false means none. Both are safe for concurrent use.
type Releaser interface {
	Deploy(ctx context.Context, req deploy.Request, progress deploy.Progress) (*deploy.Release, error)
	Resume(ctx context.Context, req deploy.Request, progress deploy.Progress) (*deploy.Release, bool, error)
}

var _ Releaser = (*deploy.Manager)(nil)

// ManagerDeployer runs a server run's deploy jobs with the deploy manager
// in-process: the run's commit, read from Source (the server's mirror of
// the pushed repository; "" its own repository).
type ManagerDeployer struct {
	M      Releaser
	Source string
	Who    string
	// Resumed: the run goes on after a server restart (Spec.Resumed), so
	// its deploys look for the releases they made before it.
	Resumed bool
}

var _ pipeline.Deployer = ManagerDeployer{}

// Deploy implements pipeline.Deployer.
func (d ManagerDeployer) Deploy(ctx context.Context, req pipeline.DeployRequest, out io.Writer) error {
	dr := deploy.Request{
		Service: req.Service, Environment: req.Environment, Version: req.Revision,
		Source: d.Source, Smoke: req.Smoke, Who: d.Who,
	}
	follow := FollowDeploy(req, out)
	if d.Resumed {
		rel, found, err := d.M.Resume(ctx, dr, follow)
		switch {
		case found && err != nil:
			return err
		case found:
			fmt.Fprintf(out, "%s %s is %s in %s (deployed by this run before the server restarted)\n", req.Service, rel.ID, rel.Status, rel.Environment)
			return nil
		case err != nil:
			return err
		}
	}
	rel, err := d.M.Deploy(ctx, dr, follow)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s is %s in %s\n", req.Service, rel.ID, rel.Status, rel.Environment)
	return nil
}
