// Package pipeline turns a pipeline of tug.yaml into a DAG of job instances
// and runs it: a ready queue bounded by -j, not level by level.
package pipeline

import "github.com/tugdev/tug/internal/config"

// Job is one job instance of a plan: a config job, or one cell of its
// matrix. Needs are resolved to instance names.
type Job struct {
	// Name is the instance name: "build", or "unit[go=1.26]".
	Name string
	// Base is the config job name ("unit").
	Base string
	// Matrix holds this instance's axis values (nil without a matrix).
	Matrix map[string]string
	// Needs are instance names this job depends on.
	Needs []string
	// Script is the bash script to run, ${{ matrix.k }} substituted.
	Script string
	// Image is the job's image with ${{ matrix.k }} substituted ("" on
	// the host).
	Image string
	// Env is pipeline env, then job env, then MATRIX_<KEY> variables.
	Env map[string]string
	// Config is the job as declared.
	Config *config.Job
}

// Plan is a pipeline ready to run: its jobs in a topological order.
type Plan struct {
	Pipeline string
	Jobs     []*Job
	// Registry is tug's own registry (server.registry.listen), where
	// build_image jobs push images with a bare name; "" keeps them in the
	// local engine.
	Registry string
}
