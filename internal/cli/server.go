package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/server"
)

// serverFlags are the flags `tug server` and `tug up` share.
type serverFlags struct {
	config         string
	http           string
	listen         string
	insecureNoAuth bool
	allowHosts     []string
	stopServices   bool
	force          bool
	tls            server.ListenTLS
}

func (a *app) newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API, deploys, the proxy and config reloads",
		Long: "tug server runs the control plane of one tug.yaml in the foreground. It starts\n" +
			"(or adopts) the proxy, serves the API on <state-dir>/api.sock (and on --listen),\n" +
			"and reloads tug.yaml when it changes or on `tug apply`. Stopping it leaves the\n" +
			"services and the proxy running unless --stop-services is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := a.serverOptions(f)
			if err != nil {
				return err
			}
			opts.Ready = func(i server.Info) {
				fmt.Fprintf(a.errOut, "tug server: API on %s", a.displayPath(i.Socket))
				scheme := map[bool]string{false: "http", true: "https"}[i.ListenTLS]
				switch {
				case i.Listen != "" && f.insecureNoAuth:
					fmt.Fprintf(a.errOut, " and %s://%s (NO AUTHENTICATION: anyone who reaches it can deploy)", scheme, i.Listen)
				case i.Listen != "":
					fmt.Fprintf(a.errOut, " and %s://%s (API tokens: `tug token create`)", scheme, i.Listen)
				}
				fmt.Fprintf(a.errOut, "; proxy on http://%s; Ctrl-C stops it", i.HTTPAddr)
				if f.stopServices {
					fmt.Fprintln(a.errOut, " with the services and the proxy")
				} else {
					fmt.Fprintln(a.errOut, " (services and the proxy keep running)")
				}
			}
			return a.runServer(cmd.Context(), opts)
		},
	}
	a.addServerFlags(cmd, &f)
	cmd.Flags().BoolVar(&f.stopServices, "stop-services", false, "on exit, also stop every service instance and the proxy")
	return cmd
}

func (a *app) addServerFlags(cmd *cobra.Command, f *serverFlags) {
	cmd.Flags().StringVar(&f.config, "config", "", "tug.yaml to serve (default: -f, or the nearest tug.yaml)")
	cmd.Flags().StringVar(&f.http, "http", "", "the proxy's HTTP listener (default: tug.yaml's proxy.http, else "+server.DefaultHTTPAddr+")")
	cmd.Flags().StringVar(&f.listen, "listen", "", "also serve the API on this TCP address (e.g. 127.0.0.1:7070); every request needs an API token (tug token create)")
	cmd.Flags().BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve --listen requests without a token as the admin's: anyone who can reach the address can deploy (logged at every start)")
	cmd.Flags().StringSliceVar(&f.allowHosts, "allow-host", nil, "a host name clients reach --listen by, besides its address and localhost (repeatable)")
	cmd.Flags().StringVar(&f.tls.CertFile, "tls-cert", "", "serve --listen over TLS with this PEM certificate (with --tls-key)")
	cmd.Flags().StringVar(&f.tls.KeyFile, "tls-key", "", "the PEM private key of --tls-cert")
	cmd.Flags().BoolVar(&f.tls.LocalCA, "tls-local", false, "serve --listen over TLS with a certificate of tug's local CA (for localhost)")
	cmd.Flags().StringVar(&f.tls.ACMEHost, "tls-acme", "", "serve --listen over TLS with an ACME certificate for this host name (tug.yaml's proxy.tls.acme; the proxy answers the challenge)")
	cmd.Flags().BoolVar(&f.force, "force", false, "start even if tug.db does not record the releases and instances the state directory holds (a new history begins; see the error without it)")
}

// serverOptions turns flags into server.Options.
func (a *app) serverOptions(f serverFlags) (server.Options, error) {
	if f.config != "" {
		a.file = f.config
	}
	cfgPath, err := a.configPath()
	if err != nil {
		return server.Options{}, err
	}
	if _, err := os.Stat(cfgPath); err != nil {
		return server.Options{}, badInputf("%s: %v", a.displayPath(cfgPath), err)
	}
	if f.listen == "" && (f.insecureNoAuth || len(f.allowHosts) > 0) {
		return server.Options{}, badInputf("--insecure-no-auth and --allow-host are about --listen, which is not given")
	}
	listenTLS, err := listenTLSOf(f)
	if err != nil {
		return server.Options{}, err
	}
	argv, err := proxyCommand()
	if err != nil {
		return server.Options{}, err
	}
	level := slog.LevelInfo
	if v, _ := a.lookupEnv("TUG_LOG"); v == "debug" {
		level = slog.LevelDebug
	}
	return server.Options{
		ConfigPath:     cfgPath,
		StateDir:       a.stateDir(),
		HTTPAddr:       f.http,
		ListenAddr:     f.listen,
		InsecureNoAuth: f.insecureNoAuth,
		ListenTLS:      listenTLS,
		AllowHosts:     f.allowHosts,
		StopServices:   f.stopServices,
		Force:          f.force,
		ProxyCommand:   argv,
		MaskLog:        []string{argv[0], runtime.MaskLogCommand},
		DrillCommand:   []string{argv[0]},
		SecretsInit:    staticExecutable(),
		Version:        readBuildInfo().Version,
		LookupEnv:      a.lookupEnv,
		Logger:         slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: level})),
	}, nil
}

// runServer runs the server and classifies its errors.
func (a *app) runServer(ctx context.Context, opts server.Options) error {
	err := server.Run(ctx, opts)
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	}
	return err
}

// proxyCommand is how the server starts `tug proxy`: this very binary.
// os.Args[0] is preferred over os.Executable so a binary reached through
// a link (as in tests) is started the same way it was.
func proxyCommand() ([]string, error) {
	exe := os.Args[0]
	if strings.ContainsRune(exe, filepath.Separator) {
		if abs, err := filepath.Abs(exe); err == nil {
			return []string{abs, "proxy"}, nil
		}
	} else if p, err := exec.LookPath(exe); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return []string{abs, "proxy"}, nil
		}
	}
	p, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the tug binary to start the proxy: %w", err)
	}
	return []string{p, "proxy"}, nil
}

// serverClient is the API client for commands that need the server.
func (a *app) serverClient() (*api.Client, error) {
	c, err := a.apiClient()
	if err != nil {
		return nil, a.serverErr(err)
	}
	return c, nil
}

// serverErr gives API errors the CLI's exit codes and hints: unreachable
// (3) says how to start the server, bad requests and unknown names are
// bad input (2), a refused config prints its positioned errors (2), the
// rest (a failed deploy, a busy service) is 1.
func (a *app) serverErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, api.ErrUnreachable) {
		where := a.serverURL
		if where == "" {
			where = a.displayPath(filepath.Join(a.stateDir(), api.SocketName))
		}
		return fmt.Errorf("%w (at %s); start it with `tug server` (or `tug up`) beside tug.yaml, or pass --server URL", api.ErrUnreachable, where)
	}
	var e *endpoint.Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Code == endpoint.CodeInvalidConfig && len(e.Details) > 0:
		list := make(config.Errors, len(e.Details))
		for i, d := range e.Details {
			list[i] = &config.Error{File: a.displayPath(d.File), Pos: config.Pos{Line: d.Line, Col: d.Col}, Path: d.Path, Msg: d.Message}
		}
		return list
	case e.Status == 400 || e.Status == 404:
		return badInput(e)
	case e.Status == 401:
		if tok, _ := a.lookupEnv(tokenEnv); tok == "" {
			return badInputf("%s: %v (%s is not set)", a.serverURL, e, tokenEnv)
		}
		return badInputf("%s: %v: %s is not a token this server accepts (revoked, expired or mistyped?)", a.serverURL, e, tokenEnv)
	}
	return e
}

// who names the person behind a change, for release records.
func (a *app) who() string {
	for _, k := range []string{"TUG_USER", "USER", "LOGNAME"} {
		if v, ok := a.lookupEnv(k); ok && v != "" {
			return v
		}
	}
	return "cli"
}

// listenTLSOf checks the TLS flags of --listen: exactly one source, and
// only with --listen.
func listenTLSOf(f serverFlags) (*server.ListenTLS, error) {
	t := f.tls
	if t == (server.ListenTLS{}) {
		return nil, nil
	}
	if f.listen == "" {
		return nil, badInputf("--tls-cert, --tls-key, --tls-local and --tls-acme are about --listen, which is not given")
	}
	o := proxy.TLSOptions{CertFile: t.CertFile, KeyFile: t.KeyFile, LocalCA: t.LocalCA}
	if t.ACMEHost != "" {
		o.ACME = &proxy.ACMEOptions{}
	}
	if err := o.Check(); err != nil {
		return nil, badInputf("--listen: %v (--tls-acme HOST for ACME)", err)
	}
	return &t, nil
}
