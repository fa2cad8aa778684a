package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// configFileName is the file tug looks for in the current directory and
// its parents when -f is not given.
const configFileName = "tug.yaml"

// stateDirName is the state directory created beside tug.yaml.
const stateDirName = ".tug"

// app is what every command shares: global flags, streams and the
// environment. One app serves one command line.
type app struct {
	in        io.Reader
	out       io.Writer
	errOut    io.Writer
	lookupEnv func(string) (string, bool)
	getwd     func() (string, error)
	tty       bool
	// termSizeFn reads the terminal's size; nil when unknown.
	termSizeFn func() (int, int)
	logger     *slog.Logger
	// exiting: the process ends with this command (Env.Exiting).
	exiting bool

	// Global flags.
	file      string
	stateFlag string
	jsonOut   bool
	serverURL string

	// ran is set once a command's RunE started, so errors before it are
	// known to be usage errors.
	ran bool
	// masker hides secrets in everything printed, once a command has
	// resolved them; nil before.
	masker interface{ Mask(string) string }
	// masked are the values maskAlso gathered for masker.
	masked []secret.Value
}

func newApp(env Env) *app {
	a := &app{
		in:         env.Stdin,
		out:        env.Stdout,
		errOut:     env.Stderr,
		lookupEnv:  env.LookupEnv,
		getwd:      env.Getwd,
		tty:        env.TTY,
		termSizeFn: env.TermSize,
		exiting:    env.Exiting,
	}
	if a.in == nil {
		a.in = strings.NewReader("")
	}
	if a.out == nil {
		a.out = io.Discard
	}
	if a.errOut == nil {
		a.errOut = io.Discard
	}
	if a.lookupEnv == nil {
		a.lookupEnv = func(string) (string, bool) { return "", false }
	}
	if a.getwd == nil {
		a.getwd = os.Getwd
	}
	// tug's own diagnostics: warnings as plain lines, or with TUG_LOG=debug
	// every record in slog's text format.
	a.logger = slog.New(newWarnHandler(a.errOut, a.mask))
	if v, _ := a.lookupEnv("TUG_LOG"); v == "debug" {
		a.logger = slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return a
}

// rootCmd builds the command tree.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tug",
		Short: "A DevOps engineer in one binary",
		Long: "tug runs the CI/CD pipelines of one tug.yaml: a DAG of jobs with a\n" +
			"content-addressed cache, masked secrets and a local run history.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			a.ran = true
		},
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return badInput(err)
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&a.file, "file", "f", "", "tug.yaml to use (default: tug.yaml in the current directory or the nearest parent)")
	pf.StringVar(&a.stateFlag, "state-dir", "", "where runs, logs and the cache are kept (env TUG_STATE_DIR; default: .tug beside tug.yaml)")
	pf.BoolVar(&a.jsonOut, "json", false, "print data as JSON")
	pf.StringVar(&a.serverURL, "server", "", "URL of the tug server's API (default: the unix socket in the state directory)")

	// One command per line.
	for _, c := range []*cobra.Command{
		a.newVersionCmd(),
		a.newValidateCmd(),
		a.newInitCmd(),
		a.newRunCmd(),
		a.newRunsCmd(),
		a.newHookCmd(),
		newCacheCmd(a),
		newArtifactsCmd(a),
		newQueryCmd(a),
		newProxyCmd(a),
		newCACmd(a),
		a.newServerCmd(),
		a.newUpCmd(),
		a.newDownCmd(),
		a.newDeployCmd(),
		a.newRollbackCmd(),
		a.newReleasesCmd(),
		a.newApproveCmd(),
		a.newApplyCmd(),
		a.newStatusCmd(),
		a.newAlertsCmd(),
		a.newSilenceCmd(),
		a.newTokenCmd(),
		a.newAuditCmd(),
		a.newDoctorCmd(),
		a.newFlagsCmd(),
		newLogsCmd(a),
		a.newBackupCmd(),
		a.newDrCmd(),
		a.newSecretCmd(),
		newSecretEnvCmd(a),
		newMaskLogCmd(a),
		a.newScanCmd(),
		a.newIncidentCmd(),
		a.newRunbookCmd(),
		a.newOncallCmd(),
		a.newDashboardsCmd(),
	} {
		if c != nil {
			root.AddCommand(c)
		}
	}
	return root
}

// configPath is the tug.yaml this invocation uses: -f, or the nearest
// tug.yaml from the current directory up.
func (a *app) configPath() (string, error) {
	if a.file != "" {
		p, err := filepath.Abs(a.file)
		if err != nil {
			return "", badInputf("%s: %w", a.file, err)
		}
		return p, nil
	}
	wd, err := a.getwd()
	if err != nil {
		return "", fmt.Errorf("current directory: %w", err)
	}
	for dir := wd; ; {
		p := filepath.Join(dir, configFileName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", badInputf("no %s in %s or any parent directory (use -f to name one)", configFileName, wd)
		}
		dir = parent
	}
}

// workspace is the directory jobs run in: the one holding tug.yaml.
func (a *app) workspace() (string, error) {
	p, err := a.configPath()
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

// stateDir is where runs, logs and the cache live: --state-dir,
// $TUG_STATE_DIR, or .tug beside tug.yaml (beside the current directory
// when there is no tug.yaml). It is not created here.
func (a *app) stateDir() string {
	if a.stateFlag != "" {
		return absOr(a.stateFlag)
	}
	if v, ok := a.lookupEnv("TUG_STATE_DIR"); ok && v != "" {
		return absOr(v)
	}
	if ws, err := a.workspace(); err == nil {
		return filepath.Join(ws, stateDirName)
	}
	wd, err := a.getwd()
	if err != nil {
		wd = "."
	}
	return filepath.Join(wd, stateDirName)
}

// explicitStateDir says whether the state directory was named (flag or
// environment) rather than derived from tug.yaml.
func (a *app) explicitStateDir() bool {
	v, _ := a.lookupEnv("TUG_STATE_DIR")
	return a.stateFlag != "" || v != ""
}

func absOr(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// loadConfig reads and validates the tug.yaml of this invocation.
func (a *app) loadConfig() (*config.Config, error) {
	p, err := a.configPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, badInputf("%s does not exist", a.displayPath(p))
	}
	return config.Load(a.displayPath(p), config.LoadOptions{LookupEnv: a.lookupEnv})
}

// displayPath shortens p relative to the current directory for messages,
// so errors read "tug.yaml:3:5: ..." rather than a long absolute path.
func (a *app) displayPath(p string) string {
	wd, err := a.getwd()
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return p
	}
	return rel
}

// mask hides resolved secrets in s.
func (a *app) mask(s string) string {
	if a.masker == nil {
		return s
	}
	return a.masker.Mask(s)
}
