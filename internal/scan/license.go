package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
	classifier "github.com/google/licenseclassifier/v2"
	"github.com/google/licenseclassifier/v2/assets"
	"golang.org/x/mod/module"

	"github.com/tugdev/tug/internal/config"
)

// licenseFileNames are the names a licence file goes by, matched on
// their upper-case form's prefix.
var licenseFileNames = []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE"}

// licenser identifies licences; the classifier is loaded on first use
// (it reads a few MB of licence texts).
type licenser struct {
	c *classifier.Classifier
}

func (l *licenser) classifier() (*classifier.Classifier, error) {
	if l.c == nil {
		c, err := assets.DefaultClassifier()
		if err != nil {
			return nil, err
		}
		l.c = c
	}
	return l.c, nil
}

// identifyDir finds the licence files in dir (not recursively) and
// returns the SPDX identifiers they match, joined with AND.
func (l *licenser) identifyDir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, e := range entries {
		up := strings.ToUpper(e.Name())
		if e.IsDir() || !slices.ContainsFunc(licenseFileNames, func(p string) bool { return strings.HasPrefix(up, p) }) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		c, err := l.classifier()
		if err != nil {
			return "", err
		}
		for _, m := range c.Match(b).Matches {
			if m.MatchType == "License" && !slices.Contains(ids, m.Name) {
				ids = append(ids, m.Name)
			}
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, " AND "), nil
}

// goModuleDir is where the module cache keeps path@version.
func goModuleDir(modCache, path, version string) (string, bool) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", false
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return "", false
	}
	d := filepath.Join(modCache, filepath.FromSlash(ep)+"@"+ev)
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d, true
	}
	return "", false
}

// checkLicense compares a dependency's licence (an SPDX expression, ""
// when unknown) with the policy and returns a finding or nil.
func checkLicense(pol *config.Licenses, c Component, path string) *Finding {
	f := Finding{
		Kind: KindLicense, Path: path, Package: c.Name, Version: c.Version, Ecosystem: c.Ecosystem,
	}
	lic := c.License
	switch {
	case lic == "":
		f.Rule, f.Severity = "license-unknown", Low
		f.Message = fmt.Sprintf("%s@%s: licence unknown (no licence file found)", c.Name, c.Version)
		f.Fix = "find the licence and allow the package by fingerprint in scan.ignore, or replace it"
		return &f
	}
	if ids, err := spdxexp.ExtractLicenses(lic); err == nil {
		for _, id := range ids {
			if slices.ContainsFunc(pol.Deny, func(d string) bool { return strings.EqualFold(d, id) }) {
				f.Rule, f.Severity = "license-denied", High
				f.Message = fmt.Sprintf("%s@%s is licensed %s, which licenses.deny lists", c.Name, c.Version, lic)
				f.Fix = "replace " + c.Name + " with a package under an allowed licence"
				f.key = lic
				return &f
			}
		}
	}
	if len(pol.Allow) == 0 {
		return nil
	}
	ok, err := spdxexp.Satisfies(lic, pol.Allow)
	if err != nil {
		f.Rule, f.Severity = "license-unknown", Low
		f.Message = fmt.Sprintf("%s@%s: licence %q is not an SPDX expression", c.Name, c.Version, lic)
		f.Fix = "check the licence by hand and allow the package by fingerprint in scan.ignore"
		f.key = lic
		return &f
	}
	if !ok {
		f.Rule, f.Severity = "license-not-allowed", Medium
		f.Message = fmt.Sprintf("%s@%s is licensed %s, which licenses.allow does not include", c.Name, c.Version, lic)
		f.Fix = "replace " + c.Name + ", or add its licence to licenses.allow"
		f.key = lic
		return &f
	}
	return nil
}
