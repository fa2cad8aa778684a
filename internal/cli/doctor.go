package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/proxy"
)

func (a *app) newDoctorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check an installation for problems",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newDoctorSecurityCmd())
	return cmd
}

func (a *app) newDoctorSecurityCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "security",
		Short: "Report what is exposed, each finding with a severity (exit 1 on a high one)",
		Long: "tug doctor security asks the running server (which also checks its listeners and\n" +
			"where each instance really listens) or, with no server, checks the files alone:\n" +
			"an API listener off loopback without TLS or without authentication, instances\n" +
			"reachable around the proxy, plaintext secrets files, state files others can\n" +
			"read, tokens without expiry, certificates near expiry, services without health\n" +
			"checks. It exits 1 when a finding is high.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := a.securityReport(cmd)
			if err != nil {
				return err
			}
			if a.jsonOut {
				if err := json.NewEncoder(a.out).Encode(rep); err != nil {
					return err
				}
			} else {
				a.printFindings(rep)
			}
			if rep.High() {
				return silentError{fmt.Errorf("%w: high findings", errFailed)}
			}
			return nil
		},
	}
}

// securityReport asks the server; with no server (on the socket), it
// runs the checks on the files of this project.
func (a *app) securityReport(cmd *cobra.Command) (doctor.Report, error) {
	c, err := a.apiClient()
	if err == nil {
		var rep doctor.Report
		if rep, err = c.Security(cmd.Context()); err == nil {
			return rep, nil
		}
	}
	if !errors.Is(err, api.ErrUnreachable) || a.serverURL != "" {
		return doctor.Report{}, a.serverErr(err)
	}
	in := doctor.Inputs{StateDir: a.stateDir(), Now: time.Now()}
	if p, err := a.configPath(); err == nil {
		in.ConfigDir = filepath.Dir(p)
		if cfg, err := a.loadConfig(); err == nil {
			in.Config = cfg
			in.Certificates = doctor.ConfiguredCertificates(cfg, in.ConfigDir)
		}
	}
	if t, err := access.OpenTokens(filepath.Join(in.StateDir, access.TokensFile), nil); err == nil {
		in.Tokens = t.List()
	}
	stored, _ := proxy.StoredCertificates(in.StateDir)
	for _, c := range stored {
		in.Certificates = append(in.Certificates, doctor.Certificate{Name: "proxy " + c.Source, Subject: c.Host, NotAfter: c.NotAfter})
	}
	return doctor.Security(in), nil
}

func (a *app) printFindings(rep doctor.Report) {
	counts := map[doctor.Severity]int{}
	for _, f := range rep.Findings {
		counts[f.Severity]++
		fmt.Fprintf(a.out, "%-6s  %s\n", strings.ToUpper(string(f.Severity)), f.Message)
		if f.Fix != "" {
			fmt.Fprintf(a.out, "        fix: %s\n", f.Fix)
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintf(a.out, "no findings (checked: %s)\n", strings.Join(rep.Checked, ", "))
		return
	}
	var parts []string
	for _, s := range []doctor.Severity{doctor.High, doctor.Medium, doctor.Low, doctor.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(a.out, "%d findings: %s (checked: %s)\n", len(rep.Findings), strings.Join(parts, ", "), strings.Join(rep.Checked, ", "))
}
