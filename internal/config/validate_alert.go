package config

// Values of an alert's severity: tug's P0..P3 and Prometheus's usual names.
func severityValues() []string {
	return []string{"P0", "P1", "P2", "P3", "critical", "high", "warning", "info"}
}

func (v *validator) alerts() {
	for i, a := range v.c.Alerts {
		ap := joinIndex("alerts", i)
		if a.Alert == "" {
			v.errorf(ap+".alert", "missing alert name")
		}
		if a.Expr == "" {
			v.errorf(ap+".expr", "missing expression")
		}
		v.enum(ap+".severity", a.Severity, severityValues()...)
	}
}
