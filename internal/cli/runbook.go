package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newRunbookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbook",
		Short: "Runbooks: list, show, write one from the template, run one step by step",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.newRunbookLsCmd(), a.newRunbookShowCmd(), a.newRunbookNewCmd(), a.newRunbookRunCmd())
	return cmd
}

func (a *app) newRunbookLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the project's runbooks (runbooks/*.md) and the ones tug ships",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			list := incident.ListRunbooks(ws)
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(list)
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTEPS\tFROM\tTITLE")
			for _, rb := range list {
				from := rb.Path
				if rb.Default {
					from = "tug (default)"
				}
				title := rb.Title
				if rb.Error != "" {
					title = "error: " + firstLine(rb.Error, 80)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", rb.Name, rb.Steps, from, title)
			}
			return tw.Flush()
		},
	}
}

// loadRunbook reads a runbook beside tug.yaml (or one tug ships); a bad
// one is bad input with its positioned errors.
func (a *app) loadRunbook(name string) (*incident.Runbook, error) {
	ws, err := a.workspace()
	if err != nil {
		return nil, err
	}
	rb, err := incident.LoadRunbook(ws, name)
	if err != nil {
		return nil, badInput(err)
	}
	return rb, nil
}

func (a *app) newRunbookShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a runbook and list its steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rb, err := a.loadRunbook(args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(rb)
			}
			fmt.Fprint(a.out, rb.Text)
			fmt.Fprintf(a.out, "\n%s:\n", plural(len(rb.Steps), "step"))
			for _, s := range rb.Steps {
				fmt.Fprintf(a.out, "  %d. [%s] %s\n", s.N, s.Kind, firstLine(s.Command, 100))
			}
			return nil
		},
	}
}

func (a *app) newRunbookNewCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write runbooks/NAME.md: the runbook tug ships of that name, else the template",
		Long: "tug runbook new writes runbooks/NAME.md beside tug.yaml in the seed's shape:\n" +
			"detection, impact, mitigation steps, resolution, follow-up. Fenced code blocks\n" +
			"marked `step` are what `tug runbook run` executes; their first word is the kind:\n" +
			"logs SERVICE, query PROMQL, restart SERVICE [INSTANCE], rollback SERVICE,\n" +
			"scale SERVICE N, or shell followed by a script.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			name, err := incident.RunbookName(args[0])
			if err != nil {
				return badInput(err)
			}
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			p := filepath.Join(ws, incident.RunbookDir, name+".md")
			if _, err := os.Stat(p); err == nil && !force {
				return badInputf("%s exists: pass --force to write it again", a.displayPath(p))
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := kit.WriteFile(p, incident.NewRunbook(name), 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.out, "wrote %s; name it in an alert with `runbook: %s/%s.md`\n", a.displayPath(p), incident.RunbookDir, name)
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "write over an existing file")
	return cmd
}

func (a *app) newRunbookRunCmd() *cobra.Command {
	var req incident.RunRequest
	var yes bool
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run a runbook's steps one by one in the server, asking before each (--yes: do not ask)",
		Long: "tug runbook run shows each step of the runbook and asks before the server runs\n" +
			"it (y: run, s: skip, q: stop). Each step's command, masked output, exit code and\n" +
			"duration are recorded in the run and, with --incident, in the incident's\n" +
			"timeline. A failing step stops the runbook (exit 1).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Incident < 0 {
				return badInputf("--incident must be an incident number")
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			req.By = a.who()
			run, err := c.StartRunbook(cmd.Context(), args[0], req)
			if err != nil {
				return a.serverErr(err)
			}
			in := bufio.NewReader(a.in)
			total := len(run.Steps)
			if !a.jsonOut {
				where := ""
				if run.Incident > 0 {
					where = fmt.Sprintf(" for incident #%d", run.Incident)
				}
				fmt.Fprintf(a.out, "runbook %s%s: %s (run %d)\n", run.Runbook, where, plural(total, "step"), run.ID)
			}
			for _, s := range run.Steps {
				skip := false
				if !a.jsonOut {
					if s.Context != "" {
						fmt.Fprintf(a.out, "\nstep %d/%d: %s\n", s.N, total, a.mask(s.Context))
					} else {
						fmt.Fprintf(a.out, "\nstep %d/%d\n", s.N, total)
					}
					fmt.Fprintf(a.out, "  %s\n", strings.ReplaceAll(a.mask(s.Command), "\n", "\n  "))
				}
				if !yes {
					answer, err := a.ask(in, "run it? [y]es, [s]kip, [q]uit: ")
					if err != nil {
						return err
					}
					switch answer {
					case "y", "yes":
					case "s", "skip":
						skip = true
					default:
						fmt.Fprintf(a.errOut, "stopped before step %d; run %d stays open\n", s.N, run.ID)
						return silentError{errors.New("stopped")}
					}
				}
				if run, err = c.RunbookStep(cmd.Context(), run.ID, s.N, incident.StepRequest{By: req.By, Skip: skip}); err != nil {
					return a.serverErr(err)
				}
				r := run.Steps[s.N-1]
				if a.jsonOut {
					if err := json.NewEncoder(a.out).Encode(r); err != nil {
						return err
					}
				} else {
					a.printStep(r)
				}
				if r.Status == incident.StepFailed {
					err := fmt.Errorf("runbook %s stopped at step %d: %s", run.Runbook, r.N, a.mask(r.Error))
					fmt.Fprintln(a.errOut, "tug: "+err.Error())
					return silentError{err}
				}
			}
			if !a.jsonOut {
				fmt.Fprintf(a.out, "\nrunbook %s %s\n", run.Runbook, run.Status)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&req.Incident, "incident", 0, "the incident whose timeline records the steps (and fills ${SERVICE}, ${ENVIRONMENT})")
	cmd.Flags().StringVar(&req.Service, "service", "", "fills ${SERVICE}")
	cmd.Flags().StringVar(&req.Environment, "env", "", "fills ${ENVIRONMENT}")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "run every step without asking")
	return cmd
}

// ask prints question to stderr and reads one answer line, lower-cased;
// the end of input answers "q".
func (a *app) ask(in *bufio.Reader, question string) (string, error) {
	fmt.Fprint(a.errOut, question)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(a.errOut)
		return "q", nil
	}
	return strings.ToLower(strings.TrimSpace(line)), nil
}

func (a *app) printStep(r incident.StepResult) {
	if r.Status == incident.StepSkipped {
		fmt.Fprintln(a.out, "  skipped")
		return
	}
	if out := strings.TrimRight(r.Output, "\n"); out != "" {
		for _, l := range strings.Split(a.mask(out), "\n") {
			fmt.Fprintf(a.out, "  | %s\n", l)
		}
	}
	code := 0
	if r.ExitCode != nil {
		code = *r.ExitCode
	}
	line := fmt.Sprintf("  %s (exit %d, %.1fs)", r.Status, code, r.Duration)
	if r.Status == incident.StepFailed && r.Error != "" && r.Error != fmt.Sprintf("exit status %d", code) {
		line += ": " + a.mask(r.Error)
	}
	fmt.Fprintln(a.out, line)
}
