package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tugdev/tug/internal/image"
)

// ImageBuilder builds the image of a build_image job: tagged with the
// run's commit and pushed where its name says (image.Destination).
// image.Builder implements it.
//
// Contract: Build blocks until the image is built and pushed (or failed),
// writes progress to out line by line (out is already secret-masking),
// honours ctx (a cancelled build returns an error wrapping ctx.Err()),
// and may be called concurrently for different jobs.
type ImageBuilder interface {
	Build(ctx context.Context, req image.Request, out io.Writer) (image.Result, error)
}

var _ ImageBuilder = (*image.Builder)(nil)

// buildImage runs a build_image job: the workspace's Dockerfile built
// through the Docker engine, tagged with the commit and pushed.
func (r *run) buildImage(ctx context.Context, j *Job, out io.Writer) error {
	b := j.Config.BuildImage
	req := image.Request{
		Name:     b.Name,
		Registry: r.plan.Registry,
		Context:  filepath.Join(r.ro.Dir, cmp.Or(b.Context, ".")),
		Target:   b.Target,
		Args:     b.Args,
		Tag:      imageTag(ctx, r.ro.Dir, r.ro.Context.Commit, r.ro.RunID),
		Labels:   map[string]string{"tug.pipeline": r.plan.Pipeline, "tug.job": j.Name},
	}
	if b.Dockerfile != "" {
		req.Dockerfile = filepath.Join(r.ro.Dir, b.Dockerfile)
	}
	builder := r.e.opts.ImageBuilder
	if builder == nil {
		nb, err := image.NewBuilder(image.Options{LookupEnv: r.e.opts.LookupEnv, Logger: r.e.opts.Logger})
		if err != nil {
			return err
		}
		defer nb.Close()
		builder = nb
	}
	res, err := builder.Build(ctx, req, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tug: image %s is %s\n", res.Ref, res.Pin())
	return nil
}

// imageTag is the tag of a job's image: the commit, with -dirty when the
// workspace's tracked files differ from it (a deploy of the commit then
// builds its own image rather than take this one), or worktree-RUN
// outside git.
func imageTag(ctx context.Context, dir, commit, runID string) string {
	if commit == "" {
		return "worktree-" + runID
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && strings.TrimSpace(string(out)) != "" {
		return commit + "-dirty"
	}
	return commit
}
