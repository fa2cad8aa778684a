package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/runtime"
)

func (a *app) newStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show services, environments, live releases and weights, and instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			// Error budgets come from the alert room; a server without
			// SLOs (or without the room) just has none.
			budgets, _ := c.Budgets(cmd.Context())
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(statusJSON{st, budgets})
			}
			if err := a.printStatus(st); err != nil {
				return err
			}
			return a.printBudgets(budgets)
		},
	}
}

// statusJSON is `tug status --json`: the server's status and the SLOs'
// error budgets.
type statusJSON struct {
	*api.StatusResponse
	SLO []alert.Budget `json:"slo,omitempty"`
}

func (a *app) printStatus(st *api.StatusResponse) error {
	fmt.Fprintf(a.out, "project %s: %s, loaded %s; proxy http://%s\n\n", dash(st.Project), a.displayPath(st.ConfigFile),
		st.ConfigLoaded.Local().Format("2006-01-02 15:04:05"), st.ProxyHTTP)
	if len(st.Services) == 0 {
		_, err := fmt.Fprintln(a.out, "no services declared in tug.yaml")
		return err
	}
	live := map[string]deploy.ServiceStatus{}
	for _, s := range st.Live {
		live[s.Service+"\x00"+s.Environment] = s
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENV\tLIVE\tINSTANCES\tDEPLOYING\tURL")
	var details []deploy.ServiceStatus
	for _, svc := range st.Services {
		for _, env := range st.Environments {
			s, ok := live[svc.Name+"\x00"+env.Name]
			pools := "-"
			inst := "-"
			deploying := "-"
			if ok {
				if len(s.Live) > 0 {
					parts := make([]string, len(s.Live))
					for i, p := range s.Live {
						parts[i] = fmt.Sprintf("%s %d%%", p.Release, p.Weight)
					}
					pools = strings.Join(parts, ", ")
				}
				if len(s.Instances) > 0 {
					inst = instanceSummary(s.Instances)
					details = append(details, s)
				}
				if s.Deploying != nil {
					deploying = s.Deploying.ID + " " + s.Deploying.Status
				}
			}
			if pools == "-" && env.Approval == "required" {
				pools = "- (approval required)"
			}
			url := "-"
			if routes := svc.Routes[env.Name]; len(routes) > 0 {
				url = routeURL(routes[0], st.ProxyHTTP)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", svc.Name, env.Name, pools, inst, deploying, url)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(details) == 0 {
		return nil
	}
	fmt.Fprintln(a.out, "\nINSTANCES")
	tw = tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRELEASE\tSTATE\tADDR\tRESTARTS\tLAST EXIT")
	for _, s := range details {
		for _, in := range s.Instances {
			state := string(in.State)
			if in.CrashLoop {
				state += " (crash loop)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", in.ID, in.Release, state, dash(in.Addr), in.Restarts, dash(in.LastExit))
		}
	}
	return tw.Flush()
}

// printBudgets shows each SLO's error budget left over its window.
func (a *app) printBudgets(bs []alert.Budget) error {
	if len(bs) == 0 {
		return nil
	}
	fmt.Fprintln(a.out, "\nERROR BUDGETS")
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tOBJECTIVE\tWINDOW\tERROR RATIO\tBUDGET LEFT")
	for _, b := range bs {
		left := fmt.Sprintf("%.1f%%", b.Remaining*100)
		if b.NoData {
			left += " (no traffic)"
		}
		fmt.Fprintf(tw, "%s\t%g%%\t%s\t%.4f%%\t%s\n", b.Service, b.Objective, fmtDuration(b.Window), b.ErrorRatio*100, left)
	}
	return tw.Flush()
}

// instanceSummary is "2/2 running" or "1/2 running, 1 restarting".
func instanceSummary(ins []runtime.Instance) string {
	running, crash := 0, 0
	for _, in := range ins {
		if in.State == runtime.Running {
			running++
		}
		if in.CrashLoop {
			crash++
		}
	}
	s := fmt.Sprintf("%d/%d running", running, len(ins))
	if crash > 0 {
		s += fmt.Sprintf(", %d crash-looping", crash)
	}
	return s
}

// routeURL is where a route is reached through the proxy:
// http://<host>:<port><prefix>.
func routeURL(route, proxyHTTP string) string {
	host, prefix, _ := strings.Cut(route, "/")
	prefix = "/" + prefix
	port := ""
	if _, p, err := net.SplitHostPort(proxyHTTP); err == nil && p != "80" {
		port = ":" + p
	}
	return "http://" + host + port + prefix
}
