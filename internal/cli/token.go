package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke the API tokens a TCP listener (--listen) asks for",
		Long: "Every request on the server's TCP listener needs an API token with a role:\n" +
			"viewer reads; deployer also deploys, rolls back and approves; admin also\n" +
			"changes the config, secrets, silences and tokens. Clients send it as\n" +
			"Authorization: Bearer TOKEN; the CLI sends $TUG_TOKEN with --server URL.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newTokenCreateCmd(), a.newTokenLsCmd(), a.newTokenRevokeCmd())
	return cmd
}

func (a *app) newTokenCreateCmd() *cobra.Command {
	var role, expires string
	cmd := &cobra.Command{
		Use:   "create NAME --role viewer|deployer|admin [--expires 30d]",
		Short: "Make an API token; it is printed once, alone on the last line, and tug keeps only its hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked here too, so a typo is exit 2 without a server round trip.
			if !slices.Contains(endpoint.Roles(), endpoint.Role(role)) {
				return badInputf("--role %q: want viewer, deployer or admin%s", role, kit.DidYouMean(role, []string{"viewer", "deployer", "admin"}))
			}
			if expires != "" {
				if d, err := kit.ParseDuration(expires); err != nil {
					return badInputf("--expires: %v", err)
				} else if d <= 0 {
					return badInputf("--expires must be positive, got %s", expires)
				}
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			created, err := c.CreateToken(cmd.Context(), access.CreateRequest{Name: args[0], Role: endpoint.Role(role), Expires: expires})
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(created)
			}
			t := created.Token
			fmt.Fprintf(a.out, "token %s: role %s, %s\n", t.Name, t.Role, expiry(t.ExpiresAt))
			fmt.Fprintln(a.out, "It is shown this once (tug keeps only its hash). Send it as Authorization: Bearer TOKEN, or set TUG_TOKEN for `tug --server URL`:")
			_, err = fmt.Fprintln(a.out, created.Value)
			return err
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "viewer (reads), deployer (deploys, rollbacks, approvals) or admin (config, secrets, tokens, silences)")
	cmd.Flags().StringVar(&expires, "expires", "", "how long it is valid (e.g. 30d, 12h); default: until revoked")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func expiry(t *time.Time) string {
	if t == nil {
		return "never expires (revoke it with `tug token revoke`)"
	}
	return "expires " + t.Local().Format("2006-01-02 15:04:05")
}

func (a *app) newTokenLsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the active API tokens (--all: revoked and expired ones too); never the tokens themselves",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			list, err := c.Tokens(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			if !all {
				list = slices.DeleteFunc(list, func(t access.Listed) bool { return t.State != access.StateActive })
			}
			if a.jsonOut {
				if list == nil {
					list = []access.Listed{}
				}
				return json.NewEncoder(a.out).Encode(list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(a.out, "no API tokens: make one with `tug token create NAME --role viewer|deployer|admin`")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED\tBY\tEXPIRES")
			for _, t := range list {
				exp := "never"
				if t.ExpiresAt != nil {
					exp = t.ExpiresAt.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.State, t.CreatedAt.Local().Format("2006-01-02 15:04"), dash(t.CreatedBy), exp)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also revoked and expired tokens")
	return cmd
}

func (a *app) newTokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an API token: requests presenting it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(t)
			}
			_, err = fmt.Fprintf(a.out, "revoked token %s (role %s)\n", t.Name, t.Role)
			return err
		},
	}
}
