package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newIncidentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Work incidents: list, show, open, acknowledge, note, mitigate, resolve, post-mortem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listIncidents(cmd, incident.ListParams{State: "open"})
		},
	}
	cmd.AddCommand(a.newIncidentLsCmd(), a.newIncidentShowCmd(), a.newIncidentOpenCmd(), a.newIncidentAckCmd(),
		a.newIncidentNoteCmd(), a.newIncidentChangeCmd("mitigate", "Record that an incident is being mitigated"),
		a.newIncidentChangeCmd("resolve", "Resolve an incident; its channels hear of it"), a.newIncidentPostmortemCmd())
	return cmd
}

func (a *app) newIncidentLsCmd() *cobra.Command {
	var p incident.ListParams
	var all bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List incidents, newest first (open ones by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.Limit < 0 {
				return badInputf("--limit must not be negative")
			}
			if all && p.State != "" {
				return badInputf("--all and --state conflict: --all lists every state")
			}
			if p.State == "" && !all {
				p.State = "open"
			}
			return a.listIncidents(cmd, p)
		},
	}
	cmd.Flags().StringVar(&p.State, "state", "", "open (the default), detected, acknowledged, mitigating, resolved or closed")
	cmd.Flags().BoolVar(&all, "all", false, "every incident, whatever its state")
	cmd.Flags().StringVar(&p.Service, "service", "", "only this service's")
	cmd.Flags().IntVar(&p.Limit, "limit", 50, "at most this many (0: all)")
	return cmd
}

func (a *app) listIncidents(cmd *cobra.Command, p incident.ListParams) error {
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	list, err := c.Incidents(cmd.Context(), p)
	if err != nil {
		return a.serverErr(err)
	}
	if a.jsonOut {
		return json.NewEncoder(a.out).Encode(nonNilSlice(list))
	}
	if len(list) == 0 {
		what := "incidents"
		if p.State == "open" {
			what = "open incidents (`tug incident ls --all` lists the others)"
		}
		_, err := fmt.Fprintln(a.out, "no "+what)
		return err
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEV\tSTATE\tSERVICE\tOPENED\tACKED\tRESOLVED\tTITLE")
	for _, inc := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inc.ID, inc.Severity, inc.State, dash(inc.Service),
			inc.OpenedAt.Local().Format("2006-01-02 15:04:05"), after(inc.OpenedAt, inc.AcknowledgedAt), after(inc.OpenedAt, inc.ResolvedAt),
			a.mask(firstLine(inc.Title, 60)))
	}
	return tw.Flush()
}

// after says how long after from t came ("-" when it has not).
func after(from time.Time, t *time.Time) string {
	if t == nil {
		return "-"
	}
	return "+" + t.Sub(from).Round(time.Second).String()
}

// incidentArg reads an incident number argument.
func incidentArg(s string) (int64, error) {
	id, err := incident.ParseID(s)
	if err != nil {
		return 0, badInput(err)
	}
	return id, nil
}

func (a *app) newIncidentShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident with its timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.onIncident(args[0], func(c *api.Client, id int64) (*incident.Incident, error) {
				return c.Incident(cmd.Context(), id)
			}, a.printIncident)
		},
	}
}

func (a *app) printIncident(inc *incident.Incident) error {
	w := func(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }
	w("Incident #%d  %s  %s\n", inc.ID, inc.Severity, inc.State)
	w("  %s\n", a.mask(inc.Title))
	if inc.Service != "" {
		env := ""
		if inc.Environment != "" {
			env = " (" + inc.Environment + ")"
		}
		w("  service:      %s%s\n", inc.Service, env)
	}
	w("  opened:       %s by %s\n", inc.OpenedAt.Local().Format("2006-01-02 15:04:05"), inc.OpenedBy)
	if inc.AcknowledgedAt != nil {
		w("  acknowledged: %s by %s\n", after(inc.OpenedAt, inc.AcknowledgedAt), inc.AcknowledgedBy)
	}
	if inc.MitigatedAt != nil {
		w("  mitigating:   %s\n", after(inc.OpenedAt, inc.MitigatedAt))
	}
	if inc.ResolvedAt != nil {
		w("  resolved:     %s by %s\n", after(inc.OpenedAt, inc.ResolvedAt), inc.ResolvedBy)
	}
	if inc.Impact != "" {
		w("  impact:       %s\n", a.mask(inc.Impact))
	}
	if c := inc.SuspectedCause; c != nil {
		w("  suspected:    %s\n", a.mask(c.Text))
	}
	w("\nTimeline:\n")
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	for _, e := range inc.Timeline {
		who := e.Who
		if e.Public {
			who += " (public)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Time.Local().Format("15:04:05"), e.Kind, dash(who), a.mask(firstLine(e.Text, 160)))
	}
	return tw.Flush()
}

func (a *app) newIncidentOpenCmd() *cobra.Command {
	var req incident.OpenRequest
	cmd := &cobra.Command{
		Use:   "open TITLE",
		Short: "Open an incident by hand (its escalation's first level is paged)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Title, req.By = args[0], a.who()
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			inc, err := c.OpenIncident(cmd.Context(), req)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(inc)
			}
			_, err = fmt.Fprintf(a.out, "opened incident #%d (%s): %s\n", inc.ID, inc.Severity, inc.Title)
			return err
		},
	}
	cmd.Flags().StringVar(&req.Severity, "sev", "P2", "severity: P0, P1, P2 or P3")
	cmd.Flags().StringVar(&req.Service, "service", "", "the service it affects")
	cmd.Flags().StringVar(&req.Environment, "env", "", "the environment it affects")
	return cmd
}

func (a *app) newIncidentAckCmd() *cobra.Command {
	var req incident.AckRequest
	var token string
	cmd := &cobra.Command{
		Use:   "ack ID|LINK",
		Short: "Acknowledge an incident (escalation stops); triage it with --sev and --impact",
		Long: "tug incident ack acknowledges an incident. Given the acknowledgement link of a\n" +
			"notification (or ID with --token, the token the notification names), it needs\n" +
			"no other credential, and reaches the server the link names.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, server, tok, err := ackTarget(args[0])
			if err != nil {
				return err
			}
			if token != "" {
				tok = token
			}
			if tok != "" && (req.Severity != "" || req.Impact != "") {
				return badInputf("--sev and --impact need the API (no token): acknowledge with the link first, then triage with `tug incident ack %d --sev ...`", id)
			}
			var c *api.Client
			if server != "" && a.serverURL == "" {
				c = api.NewClient(server)
			} else if c, err = a.serverClient(); err != nil {
				return err
			}
			req.By = a.who()
			var inc *incident.Incident
			if tok != "" {
				inc, err = c.AckIncidentLink(cmd.Context(), id, tok, req.By)
			} else {
				inc, err = c.AckIncident(cmd.Context(), id, req)
			}
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(inc)
			}
			if inc.AcknowledgedBy != req.By && tok == "" {
				_, err = fmt.Fprintf(a.out, "incident #%d was acknowledged by %s already; yours is in its timeline too\n", inc.ID, inc.AcknowledgedBy)
				return err
			}
			_, err = fmt.Fprintf(a.out, "acknowledged incident #%d (%s, %s) after %s\n", inc.ID, inc.Severity, inc.State,
				strings.TrimPrefix(after(inc.OpenedAt, inc.AcknowledgedAt), "+"))
			return err
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "the token of a notification's acknowledgement link")
	cmd.Flags().StringVar(&req.Severity, "sev", "", "triage: set the severity (P0..P3)")
	cmd.Flags().StringVar(&req.Impact, "impact", "", "triage: who and what suffers")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why, for the record")
	return cmd
}

// ackTarget reads ID, or an acknowledgement link
// (https://tug.example.com/api/incidents/7/ack-link?token=T): the
// incident, the server's URL and the token.
func ackTarget(arg string) (id int64, server, token string, err error) {
	if !strings.Contains(arg, "://") {
		id, err = incidentArg(arg)
		return id, "", "", err
	}
	u, perr := url.Parse(arg)
	if perr != nil {
		return 0, "", "", badInputf("%q is not an acknowledgement link: %v", arg, perr)
	}
	rest, ok := strings.CutSuffix(u.Path, "/ack-link")
	i := strings.LastIndex(rest, "/api/incidents/")
	if !ok || i < 0 || u.Query().Get("token") == "" {
		return 0, "", "", badInputf("%q is not an acknowledgement link (.../api/incidents/ID/ack-link?token=...)", arg)
	}
	if id, err = incidentArg(rest[i+len("/api/incidents/"):]); err != nil {
		return 0, "", "", err
	}
	return id, u.Scheme + "://" + u.Host + rest[:i], u.Query().Get("token"), nil
}

func (a *app) newIncidentNoteCmd() *cobra.Command {
	var public bool
	cmd := &cobra.Command{
		Use:   "note ID TEXT",
		Short: "Add a note to an incident's timeline (--public: show it on the status page)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changeIncident(args[0], func(c *api.Client, id int64) (*incident.Incident, error) {
				return c.NoteIncident(cmd.Context(), id, incident.NoteRequest{By: a.who(), Text: args[1], Public: public})
			}, "noted")
		},
	}
	cmd.Flags().BoolVar(&public, "public", false, "a public update: the status page shows it")
	return cmd
}

func (a *app) newIncidentChangeCmd(verb, short string) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changeIncident(args[0], func(c *api.Client, id int64) (*incident.Incident, error) {
				req := incident.ChangeRequest{By: a.who(), Note: note}
				if verb == "mitigate" {
					return c.MitigateIncident(cmd.Context(), id, req)
				}
				return c.ResolveIncident(cmd.Context(), id, req)
			}, map[string]string{"mitigate": "mitigating", "resolve": "resolved"}[verb])
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "what was done, for the timeline")
	return cmd
}

// changeIncident calls fn on the incident the argument names and says
// what became of it.
func (a *app) changeIncident(arg string, fn func(*api.Client, int64) (*incident.Incident, error), what string) error {
	return a.onIncident(arg, fn, func(inc *incident.Incident) error {
		_, err := fmt.Fprintf(a.out, "incident #%d %s (%s)\n", inc.ID, what, inc.State)
		return err
	})
}

// onIncident calls fn on the incident the argument names and shows the
// answer (as JSON with --json).
func (a *app) onIncident(arg string, fn func(*api.Client, int64) (*incident.Incident, error), show func(*incident.Incident) error) error {
	id, err := incidentArg(arg)
	if err != nil {
		return err
	}
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	inc, err := fn(c, id)
	if err != nil {
		return a.serverErr(err)
	}
	if a.jsonOut {
		return json.NewEncoder(a.out).Encode(inc)
	}
	return show(inc)
}

func (a *app) newIncidentPostmortemCmd() *cobra.Command {
	var out string
	var force, closeIt bool
	cmd := &cobra.Command{
		Use:   "postmortem ID",
		Short: "Write an incident's blameless post-mortem draft (Markdown); --close ends its lifecycle",
		Long: "tug incident postmortem writes the draft to postmortems/incident-ID.md beside\n" +
			"tug.yaml (--out FILE elsewhere, --out - to stdout): summary, impact (duration,\n" +
			"failed requests from the proxy's metrics, error budget spent), timeline,\n" +
			"suspected cause, what was done and by whom, and follow-ups as a checklist. An\n" +
			"existing draft is kept unless --force. --close marks the post-mortem done.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := incidentArg(args[0])
			if err != nil {
				return err
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			if closeIt {
				return a.changeIncident(args[0], func(c *api.Client, id int64) (*incident.Incident, error) {
					return c.CloseIncident(cmd.Context(), id, incident.ChangeRequest{By: a.who()})
				}, "closed: its post-mortem is done")
			}
			pm, err := c.Postmortem(cmd.Context(), id)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(pm)
			}
			text := a.mask(pm.Markdown)
			if out == "-" {
				_, err := fmt.Fprint(a.out, text)
				return err
			}
			if out == "" {
				ws, err := a.workspace()
				if err != nil {
					return err
				}
				out = filepath.Join(ws, "postmortems", fmt.Sprintf("incident-%d.md", id))
			}
			if _, err := os.Stat(out); err == nil && !force {
				return badInputf("%s exists (it may hold your edits): pass --force to write it again, or --out elsewhere", a.displayPath(out))
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := kit.WriteFile(out, []byte(text), 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.out, "wrote the post-mortem draft of incident #%d to %s; edit it, then `tug incident postmortem %d --close`\n",
				id, a.displayPath(out), id)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "where to write it (- for stdout; default postmortems/incident-ID.md)")
	cmd.Flags().BoolVar(&force, "force", false, "write over an existing draft")
	cmd.Flags().BoolVar(&closeIt, "close", false, "the post-mortem is done: close the incident")
	return cmd
}
