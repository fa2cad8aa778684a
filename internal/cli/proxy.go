package cli

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/proxy"
)

// newProxyCmd is `tug proxy`: the data plane process. The server starts it
// detached and pushes routes over <state>/proxy.sock; it keeps serving
// when the server is gone. Starting it while one runs takes the running
// one's sockets over (an upgrade without refused connections).
func newProxyCmd(a *app) *cobra.Command {
	var (
		httpAddr, httpsAddr string
		flagsAddr           string
		certFile, keyFile   string
		tlsLocal            bool
		acme                proxy.ACMEOptions
		acmeOn              bool
		accessLog           bool
	)
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the HTTP reverse proxy (normally started by `tug server`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if httpAddr == "" && httpsAddr == "" {
				return badInputf("tug proxy: give --http or --https")
			}
			var acmeOpts *proxy.ACMEOptions
			if acmeOn || acme.CA != "" || acme.Email != "" || acme.RootsFile != "" || acme.Challenge != "" {
				acmeOpts = &acme
			}
			logger := a.logger
			srv, err := proxy.New(proxy.Options{
				Logger:      logger,
				StateDir:    a.stateDir(),
				HTTPAddr:    httpAddr,
				HTTPSAddr:   httpsAddr,
				FlagsAddr:   flagsAddr,
				TLSCertFile: certFile,
				TLSKeyFile:  keyFile,
				LocalCA:     tlsLocal,
				ACME:        acmeOpts,
				NoAccessLog: !accessLog,
			})
			if err != nil {
				return badInput(err)
			}
			// TUG_PROXY_CPUPROFILE=file profiles the proxy until it exits
			// (bench/proxy uses it to find hot spots).
			if p, ok := a.lookupEnv("TUG_PROXY_CPUPROFILE"); ok && p != "" {
				f, err := os.Create(p)
				if err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			// The proxy's live heap is small and its garbage per request
			// constant: collecting at 4x instead of 2x the live heap costs
			// a few MiB and saves CPU on every request.
			debug.SetGCPercent(400)
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&httpAddr, "http", "", "address for plain HTTP, e.g. :80")
	f.StringVar(&httpsAddr, "https", "", "address for HTTPS, e.g. :443")
	f.StringVar(&flagsAddr, "flags", "", "address serving only feature flags over OFREP, for containers (the Docker bridge's gateway)")
	f.StringVar(&certFile, "tls-cert", "", "PEM certificate file for --https")
	f.StringVar(&keyFile, "tls-key", "", "PEM private key file for --https")
	f.BoolVar(&tlsLocal, "tls-local", false, "serve --https with certificates of tug's local CA (<state>/certs/ca.pem), for localhost names")
	f.BoolVar(&acmeOn, "acme", false, "serve --https with certificates obtained and renewed by ACME for the routes' hosts")
	f.StringVar(&acme.Email, "acme-email", "", "ACME account contact (implies --acme)")
	f.StringVar(&acme.CA, "acme-ca", "", "ACME directory URL (implies --acme; default Let's Encrypt)")
	f.StringVar(&acme.RootsFile, "acme-ca-root", "", "PEM roots to trust for the ACME directory's HTTPS (implies --acme)")
	f.StringVar(&acme.Challenge, "acme-challenge", "", "http-01 or tls-alpn-01 (implies --acme; default both)")
	f.BoolVar(&accessLog, "access-log", true, "write a JSON access log to <state>/proxy/access/ (hourly segments)")
	return cmd
}
