package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newFlagsCmd() *cobra.Command {
	ls := a.newFlagsLsCmd()
	cmd := &cobra.Command{
		Use:   "flags",
		Short: "Feature flags: what each environment serves, run-time overrides, kill switch, history, experiments",
		Args:  cobra.NoArgs,
		RunE:  ls.RunE,
	}
	cmd.Flags().AddFlagSet(ls.Flags())
	cmd.AddCommand(ls, a.newFlagsSetCmd(), a.newFlagsKillCmd(), a.newFlagsResetCmd(), a.newFlagsHistoryCmd(), a.newFlagsReportCmd())
	return cmd
}

func (a *app) newFlagsLsCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "Every flag per environment: what it serves, what tug.yaml says, overrides and ramps",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			list, err := c.Flags(cmd.Context(), env)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(list)
			}
			return printFlags(a.out, list)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

// printFlags is the table of ls and of every change.
func printFlags(w io.Writer, list []flags.FlagState) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no flags (declare them under flags: in tug.yaml)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENV\tTYPE\tSERVES\tTUG.YAML\tNOTE")
	envVars := map[string][]string{}
	for _, s := range list {
		desired, note := "same", ""
		if s.Desired != s.Serves {
			desired = s.Desired
		}
		switch {
		case s.Override != nil:
			note = "override by " + dash(s.Override.Who) + " until `tug flags reset`"
		case s.Ramp != nil && s.Ramp.Halted:
			note = fmt.Sprintf("ramp HALTED at step %d/%d", s.Ramp.Step, s.Ramp.Steps)
		case s.Ramp != nil && !s.Ramp.Next.IsZero():
			note = fmt.Sprintf("ramp step %d/%d, next %s", s.Ramp.Step, s.Ramp.Steps, timeOrDash(s.Ramp.Next))
		case s.Ramp != nil:
			note = fmt.Sprintf("ramp step %d/%d", s.Ramp.Step, s.Ramp.Steps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Flag, s.Environment, s.Type, s.Serves, desired, dash(note))
		if s.Env != "" && len(envVars[s.Env]) == 0 {
			envVars[s.Env] = s.Services
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if svcs, ok := envVars[s.Env]; ok {
			delete(envVars, s.Env)
			fmt.Fprintf(w, "\n%s is also injected into %s as $%s: a change of it rolls the service with its deploy strategy, slower than an evaluation over OFREP\n",
				s.Flag, strings.Join(svcs, ", "), s.Env)
		}
	}
	return nil
}

// printChange prints what a change left in force.
func (a *app) printChange(r flags.FlagsResponse) error {
	if a.jsonOut {
		return json.NewEncoder(a.out).Encode(r)
	}
	return printFlags(a.out, r.Flags)
}

// parsePercent reads "25%" or "25".
func parsePercent(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("--rollout %q: want a percentage from 0 to 100, e.g. 25%%", s)
	}
	return f, nil
}

func (a *app) newFlagsSetCmd() *cobra.Command {
	var env, variant, rollout string
	cmd := &cobra.Command{
		Use:   "set NAME --env E (--variant V | --rollout 25% [--variant V])",
		Short: "Override a flag in one environment until reset: a variant for everyone, or a percentage rollout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" {
				return badInputf("--env is required: an override is for one environment")
			}
			req := flags.SetRequest{Environment: env, Variant: variant, Who: a.who()}
			if rollout != "" {
				p, err := parsePercent(rollout)
				if err != nil {
					return badInput(err)
				}
				req.Rollout = &p
			} else if variant == "" {
				return badInputf("say what to serve: --variant V, --rollout 25%%, or both")
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			r, err := c.SetFlag(cmd.Context(), args[0], req)
			if err != nil {
				return a.serverErr(err)
			}
			return a.printChange(r)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment (required)")
	cmd.Flags().StringVar(&variant, "variant", "", "the variant served (with --rollout: the one that gets the percentage)")
	cmd.Flags().StringVar(&rollout, "rollout", "", "a percentage for the variant (a boolean flag's true one by default), e.g. 25%")
	return cmd
}

func (a *app) newFlagsKillCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "kill NAME [--env E]",
		Short: "Kill switch: everyone gets the flag's off variant (every environment unless --env), at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			r, err := c.KillFlag(cmd.Context(), args[0], env, a.who())
			if err != nil {
				return a.serverErr(err)
			}
			return a.printChange(r)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

func (a *app) newFlagsResetCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "reset NAME [--env E]",
		Short: "Drop a flag's override: back to tug.yaml (every environment unless --env)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			r, err := c.ResetFlag(cmd.Context(), args[0], env, a.who())
			if err != nil {
				return a.serverErr(err)
			}
			return a.printChange(r)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

func (a *app) newFlagsHistoryCmd() *cobra.Command {
	var p flags.HistoryParams
	cmd := &cobra.Command{
		Use:   "history [NAME] [--service S] [--env E] [--since 1d]",
		Short: "Flag changes, oldest first: overrides, kills, resets, ramp steps and halts, tug.yaml changes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				p.Flag = args[0]
			}
			if p.Since != "" {
				if _, err := kit.ParseDuration(p.Since); err != nil {
					return badInputf("--since: %v", err)
				}
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			r, err := c.FlagHistory(cmd.Context(), p)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(r.Changes)
			}
			if len(r.Changes) == 0 {
				_, err := fmt.Fprintln(a.out, "no flag changes")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tFLAG\tENV\tCHANGE\tWHO\tBEFORE\tAFTER")
			for _, ch := range r.Changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", timeOrDash(ch.Time), ch.Flag, ch.Environment, ch.Kind, dash(ch.Who), served(ch.Before), served(ch.After))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&p.Service, "service", "", "only changes reaching this service")
	cmd.Flags().StringVar(&p.Env, "env", "", "only this environment")
	cmd.Flags().StringVar(&p.Since, "since", "", "only changes newer than this (e.g. 1h, 7d)")
	cmd.Flags().IntVar(&p.Limit, "limit", 0, "at most this many of the newest")
	return cmd
}

// served reads what a change's before or after says is served.
func served(s string) string {
	var d struct {
		Serves string `json:"serves"`
	}
	if json.Unmarshal([]byte(s), &d) != nil || d.Serves == "" {
		return "-"
	}
	return d.Serves
}

func (a *app) newFlagsReportCmd() *cobra.Command {
	var p flags.ReportParams
	cmd := &cobra.Command{
		Use:   "report NAME --metric PROMQL [--total PROMQL] [--squares PROMQL] [--env E] [--range 1d]",
		Short: "Compare an outcome between a flag's variants and say whether the difference is significant",
		Long: "The metric counts a variant's successes and selects it with $VARIANT, e.g.\n" +
			"  --metric 'sum(increase(checkout_done_total{variant=\"$VARIANT\"}[1d]))'\n" +
			"Trials default to the variant's evaluations over --range; --total counts them otherwise.\n" +
			"For a value per trial (an order's amount), --metric sums the values and --squares their squares.\n" +
			"Each variant's mean is compared with the environment's default (the control) by Welch's t-test.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			if !strings.Contains(p.Metric, "$VARIANT") {
				return badInputf("--metric must select one variant with $VARIANT, e.g. sum(increase(orders_total{variant=\"$VARIANT\"}[1d]))")
			}
			if p.Confidence != 0 && (p.Confidence < 1 || p.Confidence > 99) {
				return badInputf("--confidence %d: want a percentage from 1 to 99", p.Confidence)
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			r, err := c.FlagReport(cmd.Context(), p)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(r)
			}
			fmt.Fprintf(a.out, "%s in %s: %s, control %s\n\n", r.Flag, r.Environment, r.Test, r.Control)
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VARIANT\tSUM\tTRIALS\tMEAN\tSTDDEV")
			for _, v := range r.Variants {
				fmt.Fprintf(tw, "%s\t%g\t%g\t%.4f\t%.4f\n", v.Variant, v.Successes, v.Trials, v.Rate, v.StdDev)
			}
			tw.Flush()
			for _, cmp := range r.Comparisons {
				verdict := "not significant"
				if cmp.Significant {
					verdict = "significant"
				}
				fmt.Fprintf(a.out, "\n%s vs %s: %+.4f (t = %.2f, df = %.1f, p = %.4f): %s at %.1f%% confidence (%.0f%% required)\n",
					cmp.Variant, r.Control, cmp.Lift, cmp.T, cmp.DF, cmp.P, verdict, 100*cmp.Confidence, 100*r.Required)
			}
			if len(r.Comparisons) == 0 {
				fmt.Fprintln(a.out, "\nno variant other than the control has trials yet")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Metric, "metric", "", "PromQL summing a variant's outcomes (successes, or values with --squares), with $VARIANT (required)")
	cmd.Flags().StringVar(&p.Squares, "squares", "", "PromQL summing the squares of a variant's values, with $VARIANT (when --metric sums values)")
	cmd.Flags().StringVar(&p.Total, "total", "", "PromQL counting a variant's trials, with $VARIANT (default: its evaluations over --range)")
	cmd.Flags().StringVar(&p.Env, "env", "", "the environment (default: the first declared)")
	cmd.Flags().StringVar(&p.Range, "range", "", "the window of the default trials, a PromQL duration (default 1d)")
	cmd.Flags().IntVar(&p.Confidence, "confidence", 0, "the confidence in percent a difference needs (default 95)")
	return cmd
}
