package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/secretstore"
)

// secretOps is what `tug secret` does, through the running server's API
// or, when none runs, directly on the state directory (see secretOpsFor).
// Calls honour ctx.
type secretOps interface {
	List(ctx context.Context, env string) ([]secretstore.Secret, error)
	Set(ctx context.Context, name, env string, value secret.Value) (secretstore.Written, error)
	Reveal(ctx context.Context, name, env string, version int) (secretstore.Revealed, error)
	Remove(ctx context.Context, name, env string) (secretstore.Removed, error)
	Import(ctx context.Context, env string, values map[string]secret.Value) ([]secretstore.Written, error)
	Rotate(ctx context.Context, req secretstore.RotateRequest, each func(secretstore.Event)) (*secretstore.Rotated, error)
	Prune(ctx context.Context, keep int) (secretstore.Pruned, error)
	Key(ctx context.Context) (string, error)
	// Direct says no server runs: rotations roll no service.
	Direct() bool
}

// viaServer is secretOps through the API (the server audits and rolls).
type viaServer struct {
	c   *api.Client
	who string
}

func (v viaServer) List(ctx context.Context, env string) ([]secretstore.Secret, error) {
	return v.c.Secrets(ctx, env)
}

func (v viaServer) Set(ctx context.Context, name, env string, value secret.Value) (secretstore.Written, error) {
	return v.c.SetSecret(ctx, name, secretstore.SetRequest{Environment: env, Value: value.Reveal(), Who: v.who})
}

func (v viaServer) Reveal(ctx context.Context, name, env string, version int) (secretstore.Revealed, error) {
	return v.c.RevealSecret(ctx, secretstore.RevealParams{Name: name, Env: env, Version: version, Who: v.who})
}

func (v viaServer) Remove(ctx context.Context, name, env string) (secretstore.Removed, error) {
	return v.c.RemoveSecret(ctx, secretstore.RemoveParams{Name: name, Env: env, Who: v.who})
}

func (v viaServer) Import(ctx context.Context, env string, values map[string]secret.Value) ([]secretstore.Written, error) {
	plain := make(map[string]string, len(values))
	for k, val := range values {
		plain[k] = val.Reveal()
	}
	return v.c.ImportSecrets(ctx, secretstore.ImportRequest{Environment: env, Values: plain, Who: v.who})
}

func (v viaServer) Rotate(ctx context.Context, req secretstore.RotateRequest, each func(secretstore.Event)) (*secretstore.Rotated, error) {
	return v.c.RotateSecret(ctx, req.Name, secretstore.RotateRequestBody{Environment: req.Environment, Value: req.Value.Reveal(),
		Generate: req.Generate, Length: req.Length, Who: v.who}, each)
}

func (v viaServer) Prune(ctx context.Context, keep int) (secretstore.Pruned, error) {
	return v.c.PruneSecrets(ctx, secretstore.PruneRequest{Keep: keep, Who: v.who})
}

func (v viaServer) Key(ctx context.Context) (string, error) { return v.c.SecretKey(ctx) }
func (viaServer) Direct() bool                              { return false }

// direct is secretOps on the state directory itself. It is safe beside a
// server: the store keeps nothing in memory and every change takes the
// store's file lock, so a server that starts meanwhile reads what was
// written. What it cannot do is roll running services onto a rotated
// value: only a server does that.
type direct struct {
	svc   *secretstore.Service
	store *secretstore.Store
	who   string
}

func (d direct) List(ctx context.Context, env string) ([]secretstore.Secret, error) {
	return d.svc.List(ctx, env)
}

func (d direct) Set(ctx context.Context, name, env string, value secret.Value) (secretstore.Written, error) {
	return d.svc.Set(ctx, name, env, value, d.who)
}

func (d direct) Reveal(ctx context.Context, name, env string, version int) (secretstore.Revealed, error) {
	return d.svc.Reveal(ctx, name, env, version, d.who)
}

func (d direct) Remove(ctx context.Context, name, env string) (secretstore.Removed, error) {
	return d.svc.Remove(ctx, name, env, d.who)
}

func (d direct) Import(ctx context.Context, env string, values map[string]secret.Value) ([]secretstore.Written, error) {
	return d.svc.Import(ctx, env, values, d.who)
}

func (d direct) Rotate(ctx context.Context, req secretstore.RotateRequest, each func(secretstore.Event)) (*secretstore.Rotated, error) {
	req.Who = d.who
	r, err := d.svc.Rotate(ctx, req, each)
	return &r, err
}

func (d direct) Prune(ctx context.Context, keep int) (secretstore.Pruned, error) {
	return d.svc.Prune(ctx, keep, d.who)
}

func (d direct) Key(context.Context) (string, error) { return d.store.Recipient() }
func (direct) Direct() bool                          { return true }

// secretOpsFor picks how `tug secret` works: through the server when
// --server names one or the state directory's server answers, else
// directly on the state directory.
func (a *app) secretOpsFor(ctx context.Context) (secretOps, *config.Config, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if a.serverURL != "" {
		c, err := a.serverClient()
		if err != nil {
			return nil, nil, err
		}
		return viaServer{c: c, who: a.who()}, cfg, nil
	}
	sock := filepath.Join(a.stateDir(), api.SocketName)
	if _, err := os.Stat(sock); err == nil {
		c := api.NewClient(sock)
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, herr := c.Health(hctx)
		cancel()
		if herr == nil {
			return viaServer{c: c, who: a.who()}, cfg, nil
		}
	}
	ws, err := a.workspace()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(a.stateDir(), 0o700); err != nil {
		return nil, nil, fmt.Errorf("state directory: %w", err)
	}
	src := a.secretSources(cfg, ws)
	svc := secretstore.NewService(secretstore.ServiceOptions{Store: src.Store(), Config: func() *config.Config { return cfg }, Logger: a.logger})
	return direct{svc: svc, store: src.Store(), who: a.who()}, cfg, nil
}

func (a *app) newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage secrets: the encrypted store, sealed files for git, rotation",
		Long: "Secrets that services and jobs name in `secrets:` come from the store first\n" +
			"(or Vault, with secrets.backend: vault), then the environment, then .tug/secrets.env.\n" +
			"Values are read from stdin or --from-file, never from an argument. With a server\n" +
			"running, these commands go through its API (changes and reveals are audited);\n" +
			"without one, they work on the state directory directly.",
	}
	for _, c := range []*cobra.Command{
		a.newSecretSetCmd(), a.newSecretLsCmd(), a.newSecretGetCmd(), a.newSecretRmCmd(),
		a.newSecretImportCmd(), a.newSecretRotateCmd(), a.newSecretPruneCmd(), a.newSecretSealCmd(), a.newSecretKeyCmd(),
	} {
		cmd.AddCommand(c)
	}
	return cmd
}

// secretErr gives store and API errors the CLI's exit codes.
func (a *app) secretErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, secretstore.ErrInvalid), errors.Is(err, secretstore.ErrNotFound), errors.Is(err, secretstore.ErrVaultBackend),
		errors.Is(err, secretstore.ErrSealed):
		return badInput(err)
	}
	return a.serverErr(err)
}

// readValue reads a secret's value from --from-file (verbatim) or stdin
// (one trailing newline dropped; on a terminal, asked for without echo).
func (a *app) readValue(cmd *cobra.Command, name, fromFile string) (secret.Value, error) {
	if fromFile != "" {
		b, err := os.ReadFile(fromFile)
		if err != nil {
			return secret.Value{}, badInputf("--from-file: %v", err)
		}
		return secret.New(string(b)), nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.errOut, "value of %s (not shown): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.errOut)
		if err != nil {
			return secret.Value{}, err
		}
		return secret.New(string(b)), nil
	}
	b, err := io.ReadAll(io.LimitReader(in, 1<<20+1))
	if err != nil {
		return secret.Value{}, err
	}
	if len(b) > 1<<20 {
		return secret.Value{}, badInputf("the value on stdin is over 1 MiB")
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return secret.Value{}, badInputf("no value for %s on stdin (pipe it in, or use --from-file; never an argument)", name)
	}
	return secret.New(s), nil
}

func scopeOf(env string) string {
	if env == "" {
		return "every environment"
	}
	return env
}

func (a *app) newSecretSetCmd() *cobra.Command {
	var env, fromFile string
	cmd := &cobra.Command{
		Use:   "set NAME [--env E] [--from-file F]",
		Short: "Store a new version of a secret, its value from stdin or --from-file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			val, err := a.readValue(cmd, args[0], fromFile)
			if err != nil {
				return err
			}
			w, err := ops.Set(cmd.Context(), args[0], env, val)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(w)
			}
			if !w.Changed {
				_, err = fmt.Fprintf(a.out, "%s (%s) unchanged: v%d already holds this value\n", args[0], scopeOf(env), w.Secret.Version)
				return err
			}
			_, err = fmt.Fprintf(a.out, "%s (%s) is now v%d; services get it at their next deploy (`tug secret rotate` rolls them now)\n", args[0], scopeOf(env), w.Secret.Version)
			return err
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment the value is for (default: every environment without its own)")
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file, as it is")
	return cmd
}

func (a *app) newSecretLsCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "ls [--env E]",
		Short: "List the secrets in the store: names, versions, who and when; never values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			list, err := ops.List(cmd.Context(), env)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				if list == nil {
					list = []secretstore.Secret{}
				}
				return json.NewEncoder(a.out).Encode(list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(a.out, "no secrets in the store: add one with `tug secret set NAME < value-file`")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tENV\tVERSION\tVERSIONS\tSET BY\tWHEN\tORIGIN")
			for _, s := range list {
				cur, ok := s.Current()
				if !ok {
					when := ""
					if s.DeletedAt != nil {
						when = s.DeletedAt.Local().Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\t%s\tremoved\t%d\t%s\t%s\t-\n", s.Name, dash(s.Environment), len(s.Versions), dash(s.DeletedBy), when)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\tv%d\t%d\t%s\t%s\t%s\n", s.Name, dash(s.Environment), cur.Version, len(s.Versions),
					dash(cur.CreatedBy), cur.CreatedAt.Local().Format("2006-01-02 15:04"), cur.Origin)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only what this environment sees (its own and the shared values)")
	return cmd
}

func (a *app) newSecretGetCmd() *cobra.Command {
	var env string
	var version int
	var reveal bool
	cmd := &cobra.Command{
		Use:   "get NAME --reveal [--env E] [--version N]",
		Short: "Print a secret's value (audited); without --reveal, only its versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			if !reveal {
				list, err := ops.List(cmd.Context(), env)
				if err != nil {
					return a.secretErr(err)
				}
				for _, s := range list {
					if s.Name == args[0] && (s.Environment == env || s.Environment == "") {
						if a.jsonOut {
							return json.NewEncoder(a.out).Encode(s)
						}
						for _, v := range s.Versions {
							fmt.Fprintf(a.out, "%s (%s) v%d\t%s\t%s\t%s\n", s.Name, scopeOf(s.Environment), v.Version, v.CreatedBy, v.CreatedAt.Local().Format(time.RFC3339), v.Origin)
						}
						_, err := fmt.Fprintln(a.out, "(add --reveal to print the value; revealing is audited)")
						return err
					}
				}
				return badInputf("%s is not in the store for %s", args[0], scopeOf(env))
			}
			r, err := ops.Reveal(cmd.Context(), args[0], env, version)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(r)
			}
			_, err = fmt.Fprintln(a.out, r.Value)
			return err
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose value to print (default: the shared one)")
	cmd.Flags().IntVar(&version, "version", 0, "this version instead of the current one")
	cmd.Flags().BoolVar(&reveal, "reveal", false, "print the value (recorded in the audit log)")
	return cmd
}

func (a *app) newSecretRmCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "rm NAME [--env E]",
		Short: "Remove a secret's value (its versions stay for rollbacks until pruned)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			r, err := ops.Remove(cmd.Context(), args[0], env)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(r)
			}
			fmt.Fprintf(a.out, "%s (%s) removed; its %d version(s) stay for the releases deployed with them until `tug secret prune`\n", args[0], scopeOf(env), len(r.Secret.Versions))
			if len(r.UsedBy) > 0 {
				fmt.Fprintf(a.errOut, "tug: warning: %s is named by %s: deploys that find it nowhere else are refused\n", args[0], strings.Join(r.UsedBy, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose value to remove (default: the shared one)")
	return cmd
}

func (a *app) newSecretImportCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "import FILE.env [--env E]",
		Short: "Store every KEY=VALUE of a .env file, in one change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vals, err := secret.ReadEnvFile(args[0])
			if err != nil {
				return badInput(err)
			}
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			values := make(map[string]secret.Value, len(vals))
			for k, v := range vals {
				values[k] = secret.New(v)
			}
			ws, err := ops.Import(cmd.Context(), env, values)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(ws)
			}
			changed := 0
			for _, w := range ws {
				if w.Changed {
					changed++
				}
			}
			_, err = fmt.Fprintf(a.out, "imported %d secret(s) for %s from %s: %d new version(s), %d unchanged\n", len(ws), scopeOf(env), args[0], changed, len(ws)-changed)
			return err
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment the values are for (default: every environment)")
	return cmd
}

func (a *app) newSecretRotateCmd() *cobra.Command {
	var env, fromFile string
	var generate bool
	var length int
	cmd := &cobra.Command{
		Use:   "rotate NAME [--env E] [--generate [--length N] | --from-file F]",
		Short: "Store a new value (from stdin, a file, or generated) and roll every running service using it onto it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if length != 0 && !generate {
				return badInputf("--length goes with --generate")
			}
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			req := secretstore.RotateRequest{Name: args[0], Environment: env, Generate: generate, Length: length}
			if !generate {
				if req.Value, err = a.readValue(cmd, args[0], fromFile); err != nil {
					return err
				}
			}
			each := func(e secretstore.Event) {
				if !a.jsonOut {
					fmt.Fprintf(a.out, "  %s (%s) %s %s: %s\n", e.Service, e.Environment, e.Release, e.Phase, a.mask(e.Message))
				}
			}
			res, err := ops.Rotate(cmd.Context(), req, each)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(res)
			}
			fmt.Fprintf(a.out, "%s (%s) is now v%d\n", args[0], scopeOf(env), res.Written.Secret.Version)
			failed := false
			for _, r := range res.Rolled {
				switch r.Outcome {
				case secretstore.OutcomeLive:
					fmt.Fprintf(a.out, "%s (%s): release %s runs with it\n", r.Service, r.Environment, r.Release)
				case secretstore.OutcomeNotRunning:
					fmt.Fprintf(a.out, "%s (%s): not running; its next deploy gets it\n", r.Service, r.Environment)
				default:
					failed = true
					fmt.Fprintf(a.out, "%s (%s): rollout failed, the previous release serves on: %s\n", r.Service, r.Environment, a.mask(firstLine(r.Error, 200)))
				}
			}
			if ops.Direct() {
				fmt.Fprintf(a.errOut, "tug: warning: no server runs here: services using %s get the new value at their next deploy\n", args[0])
			}
			if failed {
				return silentError{errFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose value to rotate (default: the shared one)")
	cmd.Flags().BoolVar(&generate, "generate", false, "generate a random value (letters and digits)")
	cmd.Flags().IntVar(&length, "length", 0, "length of a generated value (default: the policy's, else 32)")
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the new value from this file, as it is")
	return cmd
}

func (a *app) newSecretPruneCmd() *cobra.Command {
	var keep int
	cmd := &cobra.Command{
		Use:   "prune [--keep N]",
		Short: "Drop all but the newest versions of each secret, and removed secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			p, err := ops.Prune(cmd.Context(), keep)
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(p)
			}
			_, err = fmt.Fprintf(a.out, "pruned %d version(s) and %d removed secret(s); releases deployed with them can no longer be rolled back to\n", p.Versions, p.Secrets)
			return err
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 5, "versions kept of each secret")
	return cmd
}

func (a *app) newSecretSealCmd() *cobra.Command {
	var env, fromFile string
	cmd := &cobra.Command{
		Use:   "seal NAME --env E [--from-file F]",
		Short: "Encrypt a value into secrets/ENV.age for secrets.recipients: safe to commit, read by the server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if env == "" {
				return badInputf("tug secret seal needs --env: sealed files are per environment")
			}
			svc := secretstore.NewService(secretstore.ServiceOptions{Config: func() *config.Config { return cfg }})
			if err := svc.CheckEnv(env); err != nil {
				return badInput(err)
			}
			var recipients []string
			if cfg.Secrets != nil {
				recipients = cfg.Secrets.Recipients
			}
			val, err := a.readValue(cmd, args[0], fromFile)
			if err != nil {
				return err
			}
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			path := secretstore.SealedPath(ws, env)
			if err := secretstore.Seal(path, env, args[0], val, recipients); err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(map[string]any{"file": a.displayPath(path), "name": args[0], "environment": env, "recipients": recipients})
			}
			_, err = fmt.Fprintf(a.out, "%s sealed into %s for %d recipient(s); commit it: the server takes it in at its next start or `tug apply`\n", args[0], a.displayPath(path), len(recipients))
			return err
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose sealed file to write (required)")
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file, as it is")
	return cmd
}

func (a *app) newSecretKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print the public key (age1...) of the store's key, for secrets.recipients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, _, err := a.secretOpsFor(cmd.Context())
			if err != nil {
				return err
			}
			r, err := ops.Key(cmd.Context())
			if err != nil {
				return a.secretErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(map[string]string{"recipient": r})
			}
			_, err = fmt.Fprintln(a.out, r)
			return err
		},
	}
}

// localSecrets are this machine's secret sources for cfg, as `tug run`
// resolves a pipeline's secrets: the store of the state directory (or
// Vault), then the environment, then .tug/secrets.env.
func (a *app) secretSources(cfg *config.Config, ws string) *secretstore.Sources {
	src := secretstore.NewSources(secretstore.SourcesOptions{StateDir: a.stateDir(), ConfigDir: ws, LookupEnv: a.lookupEnv, Logger: a.logger})
	if err := src.SetConfig(cfg); err != nil {
		a.logger.Warn("secrets: " + err.Error())
	}
	return src
}
