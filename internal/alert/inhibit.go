package alert

// inhibitRule mutes target alerts while a source alert fires: targets
// share the Equal labels with the source and are less severe.
type inhibitRule struct {
	source string
	equal  []string
}

// defaultInhibitions: a firing InstanceDown mutes the service's
// lower-severity alerts (its errors and latency follow from it).
func defaultInhibitions() []inhibitRule {
	return []inhibitRule{{source: "InstanceDown", equal: []string{LabelService}}}
}

// inhibitedBy names the firing alert that mutes a, or "".
func inhibitedBy(rules []inhibitRule, a *Alert, firing []*Alert) string {
	for _, r := range rules {
		if a.Name == r.source {
			continue
		}
		for _, src := range firing {
			if src.Name != r.source || src.State != StateFiring {
				continue
			}
			same := true
			for _, k := range r.equal {
				v, ok := src.Labels[k]
				if !ok || a.Labels[k] != v {
					same = false
					break
				}
			}
			if same && severityRank(a.Severity) > severityRank(src.Severity) {
				return src.ID
			}
		}
	}
	return ""
}
