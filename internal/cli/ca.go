package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/proxy"
)

// caInfo is what `tug ca` prints: the local CA to trust, and the
// certificates the running proxy serves.
type caInfo struct {
	Cert        string             `json:"cert"`
	Fingerprint string             `json:"sha256"`
	NotAfter    time.Time          `json:"not_after"`
	Served      []proxy.CertStatus `json:"served"`
}

// newCACmd is `tug ca`: where tug's local CA is (made on first use) and
// how to trust it, and what the proxy serves with each expiry.
func newCACmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ca",
		Short: "Show tug's local CA for localhost HTTPS, how to trust it, and the certificates the proxy serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := proxy.OpenLocalCA(proxy.CertsDir(a.stateDir()), nil)
			if err != nil {
				return err
			}
			info := caInfo{Cert: ca.CertFile(), Fingerprint: ca.Fingerprint(), NotAfter: ca.Certificate().NotAfter, Served: []proxy.CertStatus{}}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
			defer cancel()
			if served, err := proxy.NewClient(proxy.ControlSocketPath(a.stateDir())).Certs(ctx); err == nil {
				info.Served = served
			}
			if a.jsonOut {
				return writeJSONTo(a, info)
			}
			fmt.Fprintf(a.out, "local CA: %s (expires %s)\n%s\n", a.displayPath(info.Cert), info.NotAfter.Format(time.DateOnly), ca.TrustHint())
			if len(info.Served) > 0 {
				fmt.Fprintln(a.out, "\nthe proxy serves:")
				for _, c := range info.Served {
					host := c.Host
					if host == "" {
						host = "(the CA)"
					}
					fmt.Fprintf(a.out, "  %-30s %-14s expires %s (in %s)\n", host, c.Source, c.NotAfter.Format(time.DateOnly), humanDays(time.Until(c.NotAfter)))
				}
			}
			return nil
		},
	}
}

func humanDays(d time.Duration) string {
	if d < 0 {
		return "EXPIRED"
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
