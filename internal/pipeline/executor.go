package pipeline

import (
	"context"
	"io"
	"time"
)

// Executor runs one attempt of one job's script somewhere: on the host, in a
// container, later in a pod.
//
// Contract:
//   - Exec is called once per attempt and may be called concurrently for
//     different jobs; implementations hold no per-job state between calls.
//   - Exec blocks until the script and every process it started have ended.
//   - When ctx is cancelled (run cancelled, or the job's timeout passed) the
//     executor sends SIGTERM to everything the attempt started, waits up to
//     spec.KillGrace, then SIGKILLs it, cleans up (containers removed) and
//     returns ctx.Err() wrapped. No process outlives Exec.
//   - Everything the script prints goes to out, stdout and stderr merged,
//     unbuffered beyond a line; out is already secret-masking.
//   - exitCode is the script's exit status; err is non-nil only when the
//     script could not be run or was stopped (then exitCode is -1).
type Executor interface {
	Exec(ctx context.Context, spec *ExecSpec, out io.Writer) (exitCode int, err error)
}

// ExecSpec is what an executor needs to run one job attempt.
type ExecSpec struct {
	// Job is the instance name ("unit[go=1.26]").
	Job string
	// Script is the bash script (steps joined in order).
	Script string
	// Dir is the workspace (the repository root).
	Dir string
	// Env is the full environment as KEY=VALUE, secrets included.
	Env []string
	// SecretKeys names the entries of Env that are secrets, so an executor
	// can keep them out of what others can read (a container's
	// configuration).
	SecretKeys []string
	// Image, Pull and Services are set for container jobs.
	Image    string
	Pull     bool
	Services []ServiceSpec
	// KillGrace is how long a stopped job has between SIGTERM and SIGKILL.
	KillGrace time.Duration
}

// ServiceSpec is a sidecar container of a container job.
type ServiceSpec struct {
	Name  string
	Image string
	Env   []string
}
