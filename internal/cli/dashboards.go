package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/web"
)

// dashboardSummary is one line of `tug dashboards --json`.
type dashboardSummary struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Rows   int    `json:"rows"`
	Panels int    `json:"panels"`
}

func (a *app) newDashboardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboards",
		Short: "The dashboards of tug.yaml, and their export for Grafana",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			list := []dashboardSummary{}
			for _, d := range web.CustomDashboards(cfg) {
				s := dashboardSummary{Name: d.Name, Title: d.Title, Rows: len(d.Rows)}
				for _, r := range d.Rows {
					s.Panels += len(r.Panels)
				}
				list = append(list, s)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(a.out, "no dashboards in tug.yaml (add `dashboards: {business: {rows: [{panels: [{title: Orders, query: \"sum(rate(orders_total[5m]))\"}]}]}}`)")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTITLE\tROWS\tPANELS")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", s.Name, s.Title, s.Rows, s.Panels)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(a.newDashboardsExportCmd())
	return cmd
}

func (a *app) newDashboardsExportCmd() *cobra.Command {
	var dir, url string
	cmd := &cobra.Command{
		Use:   "export --grafana DIR",
		Short: "Write the dashboards (tug.yaml's, the services', the host's) as Grafana dashboard JSON, with tug's API as the Prometheus data source",
		Long: "Writes DIR/NAME.json for each dashboard of tug.yaml, DIR/tug-services.json (request rate,\n" +
			"errors, latency per release, CPU, memory and restarts, for a service and environment chosen\n" +
			"in Grafana), DIR/tug-host.json, and DIR/datasource.yaml: a Grafana provisioning file naming\n" +
			"tug's Prometheus-compatible API (--url) as the data source, with the API token read from\n" +
			"$" + web.GrafanaTokenVariable + " when Grafana starts (make one with `tug token create grafana --role viewer`).",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if dir == "" {
				return badInputf("--grafana DIR is required: the directory the dashboards are written to")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			files, err := web.GrafanaExport(cfg, url)
			if err != nil {
				return badInputf("%s: %w", cfg.File, err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, name := range slices.Sorted(maps.Keys(files)) {
				p := filepath.Join(dir, name)
				if err := kit.WriteFile(p, files[name], 0o644); err != nil {
					return err
				}
				if !a.jsonOut {
					fmt.Fprintln(a.out, "wrote", p)
				}
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(map[string]any{"dir": dir, "files": slices.Sorted(maps.Keys(files))})
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "grafana", "", "write Grafana dashboard JSON into this directory")
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:7070", "the address Grafana reaches tug's API by (tug server --listen)")
	return cmd
}
