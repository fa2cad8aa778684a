package config

import (
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/github/go-spdx/v2/spdxexp"
)

// ScanSeverities are the severities of scan findings, highest first:
// the values of scan.fail_on and a scan job's fail_on.
func ScanSeverities() []string { return []string{"critical", "high", "medium", "low", "info"} }

// scanDateLayout is the date of a suppression's expiry.
const scanDateLayout = "2006-01-02"

// scan checks the scan and licenses sections.
func (v *validator) scan() {
	if s := v.c.Scan; s != nil {
		v.enum("scan.fail_on", s.FailOn, ScanSeverities()...)
		for _, k := range []struct {
			key string
			d   Duration
		}{{"scan.stale_after", s.StaleAfter}, {"scan.rescan", s.Rescan}} {
			if v.has(k.key) && k.d <= 0 {
				v.errorf(k.key, "must be greater than 0")
			}
		}
		for i, ig := range s.Ignore {
			ip := joinIndex("scan.ignore", i)
			if ig == nil {
				v.errorKey(ip, ip, "empty suppression: give a fingerprint, rule or path, and a reason")
				continue
			}
			if ig.Fingerprint == "" && ig.Rule == "" && ig.Path == "" {
				v.errorKey(ip, ip, "suppression matches nothing: give a fingerprint, rule or path")
			}
			if strings.TrimSpace(ig.Reason) == "" {
				v.errorKey(ip+".reason", ip, "missing reason: say why the finding is acceptable")
			}
			if ig.Expires != "" {
				if _, err := time.Parse(scanDateLayout, ig.Expires); err != nil {
					v.errorf(ip+".expires", "invalid date %q: write YYYY-MM-DD", ig.Expires)
				}
			}
			if ig.Path != "" && !doublestar.ValidatePattern(ig.Path) {
				v.errorf(ip+".path", "invalid glob pattern %q", ig.Path)
			}
		}
	}
	if l := v.c.Licenses; l != nil {
		for _, list := range []struct {
			key string
			ids []string
		}{{"licenses.allow", l.Allow}, {"licenses.deny", l.Deny}} {
			for i, id := range list.ids {
				if ok, _ := spdxexp.ValidateLicenses([]string{id}); !ok {
					v.errorf(joinIndex(list.key, i), "unknown SPDX licence identifier %q", id)
					continue
				}
				if list.key == "licenses.deny" && slices.ContainsFunc(l.Allow, func(a string) bool { return strings.EqualFold(a, id) }) {
					v.errorf(joinIndex(list.key, i), "%s is both allowed and denied", id)
				}
			}
		}
	}
}
