package scan

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// DefaultBaseline is the baseline file beside tug.yaml unless
// scan.baseline names another.
const DefaultBaseline = ".tug-scan-baseline"

// ErrBadBaseline: the baseline file does not parse.
var ErrBadBaseline = errors.New("bad scan baseline")

// BaselinePath is c's scan.baseline, or DefaultBaseline in dir (tug.yaml's
// directory), or in root (what is scanned) when dir is "".
func BaselinePath(c *config.Config, dir, root string) string {
	if c != nil && c.Scan != nil {
		if p := ConfigPath(c, c.Scan.Baseline); p != "" {
			return p
		}
	}
	if dir != "" {
		return filepath.Join(dir, DefaultBaseline)
	}
	return filepath.Join(root, DefaultBaseline)
}

// NotInBaseline drops the findings the baseline at path lists, if there
// is one; one that does not parse is an error wrapping ErrBadBaseline.
func NotInBaseline(path string, found []Finding) ([]Finding, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return found, nil
	}
	if err != nil {
		return nil, err
	}
	bl, err := ReadBaseline(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBaseline, path, err)
	}
	return New(found, bl), nil
}

// Jobs runs pipeline scan jobs in-process with tug.yaml's settings: the
// pipeline.Scanner of `tug run` and of the server's runs. It is safe for
// concurrent use.
type Jobs struct {
	// Config is the run's tug.yaml (nil: the defaults).
	Config *config.Config
	// Dir is tug.yaml's directory, where the baseline is by default.
	Dir string
	// LookupEnv finds the default vulnerability database's directory.
	LookupEnv func(string) (string, bool)
}

var _ pipeline.Scanner = Jobs{}

// Scan implements pipeline.Scanner.
func (j Jobs) Scan(ctx context.Context, dir string, spec *config.JobScan, out io.Writer) (*pipeline.ScanSummary, error) {
	o := ConfiguredOptions(j.Config)
	o.Root = dir
	isSet := func(b *bool) bool { return b != nil && *b }
	none := spec.Secrets == nil && spec.Deps == nil && spec.Licenses == nil && spec.IaC == nil
	o.Secrets = isSet(spec.Secrets) || none && spec.Image == ""
	o.Deps = isSet(spec.Deps) || none && spec.Image == ""
	o.IaC = isSet(spec.IaC) || none && spec.Image == ""
	o.Licenses = isSet(spec.Licenses) || none && spec.Image == "" && j.Config != nil && j.Config.Licenses != nil
	if !o.Secrets && !o.Deps && !o.IaC && !o.Licenses {
		o.Root = ""
	}
	lookupEnv := j.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	db, err := OpenDB(ConfiguredDBDir(j.Config, "", lookupEnv))
	switch {
	case errors.Is(err, ErrNoDB):
	case err != nil:
		return nil, err
	default:
		o.DB = db
	}
	if spec.Image != "" {
		src, err := NewDockerImages()
		if err != nil {
			return nil, err
		}
		defer src.Close()
		o.Images, o.ImageSource = []string{spec.Image}, src
	}
	rep, err := Run(ctx, o)
	if err != nil {
		return nil, err
	}
	WriteTable(out, rep)
	var failOn string
	if j.Config != nil && j.Config.Scan != nil {
		failOn = j.Config.Scan.FailOn
	}
	failOn = cmp.Or(spec.FailOn, failOn, "high")
	min, err := ParseSeverity(failOn)
	if err != nil {
		return nil, err
	}
	fresh, err := NotInBaseline(BaselinePath(j.Config, j.Dir, dir), rep.Findings)
	if err != nil {
		return nil, err
	}
	return &pipeline.ScanSummary{BySeverity: Counts(rep.Findings), Failing: len(Failing(fresh, min)), FailOn: failOn}, nil
}
