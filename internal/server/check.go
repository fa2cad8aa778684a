package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"

	"github.com/prometheus/prometheus/rules"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/secretstore"
)

// Check refuses what the server would refuse about cfg beyond the
// loader's own rules, with the same code the server runs at start and on
// every reload: the monitoring settings, the alert rules as the rule
// engine builds them (tug.yaml's, the default packs and SLOs, and the
// Prometheus rule files of alert_files), the runbooks and remediation
// (incident.Check), and the proxy's certificate.
// Errors are config.Errors, positioned in tug.yaml or in the rule file
// at fault. Warnings are problems that do not stop the server but make a
// rule useless: a metric no configured source produces.
func Check(ctx context.Context, cfg *config.Config) (warnings config.Errors, err error) {
	dir := filepath.Dir(cfg.File)
	var errs config.Errors
	errs = append(errs, cfg.Positioned(metrics.CheckConfig(cfg))...)
	groups, aerr := alert.Check(ctx, cfg, dir, metrics.RecordingRules().Groups)
	errs = append(errs, cfg.Positioned(aerr)...)
	errs = append(errs, secretstore.CheckConfig(cfg)...)
	if aerr == nil {
		errs = append(errs, cfg.Positioned(incident.Check(cfg, dir, alertNames(groups)))...)
	}
	if p := cfg.Proxy; p != nil && p.HTTPS != "" && p.TLS != nil && p.TLS.Cert != "" && p.TLS.Key != "" {
		if _, err := tls.LoadX509KeyPair(absFrom(dir, p.TLS.Cert), absFrom(dir, p.TLS.Key)); err != nil {
			errs = append(errs, cfg.Errorf("proxy.tls", "the proxy cannot load its certificate: %v", err))
		}
	}
	errs = append(errs, checkEdge(cfg, dir)...)
	if len(errs) > 0 {
		return nil, errs
	}

	recorded := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules() {
			if _, ok := r.(*rules.RecordingRule); ok {
				recorded[r.Name()] = true
			}
		}
	}
	warn := func(path, file string, reasons []string) {
		for _, msg := range reasons {
			if file != "" {
				warnings = append(warnings, &config.Error{File: file, Msg: fmt.Sprintf("%s: %s", path, msg)})
				continue
			}
			warnings = append(warnings, cfg.Errorf(path, "%s", msg))
		}
	}
	for _, g := range groups {
		fromConfig := g.File() == alert.ConfigFile
		if fromConfig && g.Name() != alert.ConfigAlertsGroup {
			continue // tug's own packs read tug's own metrics
		}
		for i, r := range g.Rules() {
			expr := r.Query()
			if fromConfig {
				warn(fmt.Sprintf("alerts[%d].expr", i), "", metrics.Unproduced(cfg, expr, recorded))
			} else {
				warn(fmt.Sprintf("group %s, rule %s", g.Name(), r.Name()), g.File(), metrics.Unproduced(cfg, expr, recorded))
			}
		}
	}
	for _, name := range cfg.ServiceOrder {
		s := cfg.Services[name]
		if s.Deploy == nil || s.Deploy.Analysis == nil {
			continue
		}
		for i, q := range s.Deploy.Analysis.Queries {
			expr, err := q.Expr()
			if err != nil {
				continue // the loader reported it
			}
			warn(fmt.Sprintf("services.%s.deploy.analysis.queries[%d].query", name, i), "", metrics.Unproduced(cfg, expr, recorded))
		}
	}
	return warnings, nil
}

// alertNames are the names of the alerting rules of groups.
func alertNames(groups []*rules.Group) []string {
	var out []string
	for _, g := range groups {
		for _, r := range g.AlertingRules() {
			out = append(out, r.Name())
		}
	}
	return out
}

// applyConfig hands a new config to the running rooms: the alert engine
// and scraping first (a config whose rules do not build changes nothing),
// the log retention, then the deploy manager, which pushes the routing
// table when routes, health checks or stickiness changed. An error names
// what did not take the config.
func applyConfig(ctx context.Context, c *config.Config, mon *monitoring, lg *logs.Logs, fl *flags.Manager, mgr *deploy.Manager) error {
	if err := mon.setConfig(ctx, c); err != nil {
		return err
	}
	lg.SetRetention(logsRetention(c))
	if err := fl.SetConfig(ctx, c); err != nil {
		return err
	}
	return mgr.ApplyConfig(ctx, c)
}
