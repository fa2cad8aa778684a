package scan

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"
	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"
)

// newDetector builds a gitleaks detector with gitleaks' default rule set,
// reading it through its own viper instance (not viper's global one).
// Files in a .tug directory under root (or, for paths relative to it, in
// any) are tug's own state; root itself may be inside one (a server run's
// worktree) and is scanned.
func newDetector(ctx context.Context, root string) (*detect.Detector, error) {
	// gitleaks logs through zerolog to stderr; tug reports what matters
	// itself. The level is an atomic, process-wide setting.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(strings.NewReader(glconfig.DefaultConfig)); err != nil {
		return nil, fmt.Errorf("gitleaks rules: %w", err)
	}
	var vc glconfig.ViperConfig
	if err := v.Unmarshal(&vc); err != nil {
		return nil, fmt.Errorf("gitleaks rules: %w", err)
	}
	cfg, err := vc.Translate()
	if err != nil {
		return nil, fmt.Errorf("gitleaks rules: %w", err)
	}
	// tug's own state (run logs, the database) is not the repository's.
	cfg.Allowlists = append(cfg.Allowlists, &glconfig.Allowlist{
		Description: "tug's state directory",
		Paths:       []*regexp.Regexp{stateDirPaths(root)},
	})
	return detect.NewDetectorContext(ctx, cfg), nil
}

// stateDirPaths matches the paths of files in a .tug directory: paths
// relative to what is scanned (root "", or "."), or under root.
func stateDirPaths(root string) *regexp.Regexp {
	if root == "" || root == "." {
		return regexp.MustCompile(`(^|/)\.tug/`)
	}
	return regexp.MustCompile(`^` + regexp.QuoteMeta(strings.TrimSuffix(root, "/")+"/") + `(?:.*/)?\.tug/`)
}

// scanSecrets finds leaked secrets in the working tree under root and,
// with history, in every commit of its git repository, reporting the
// bytes read through progress.
func scanSecrets(ctx context.Context, root string, history bool, progress func(Progress)) ([]Finding, error) {
	root = filepath.Clean(root)
	d, err := newDetector(ctx, root)
	if err != nil {
		return nil, err
	}
	// Report the bytes read twice a second while the detector works.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				progress(Progress{Phase: "secrets", Bytes: int64(d.TotalBytes.Load())})
			}
		}
	}()
	d.MaxDecodeDepth = 5 // gitleaks' command-line default
	var out []Finding
	src := &sources.Files{Config: &d.Config, Path: root, Sema: d.Sema}
	found, err := d.DetectSource(ctx, src)
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		out = append(out, secretFinding(root, f))
	}
	if history {
		hd, err := newDetector(ctx, "")
		if err != nil {
			return nil, err
		}
		hd.MaxDecodeDepth = 5
		cmd, err := sources.NewGitLogCmdContext(ctx, root, "")
		if err != nil {
			return nil, fmt.Errorf("git history: %w", err)
		}
		found, err := hd.DetectSource(ctx, &sources.Git{Cmd: cmd, Config: &hd.Config, Sema: hd.Sema,
			Remote: &sources.RemoteInfo{}})
		if err != nil {
			return nil, fmt.Errorf("git history: %w", err)
		}
		for _, f := range found {
			out = append(out, secretFinding(root, f))
		}
	}
	numberOccurrences(out)
	return out, nil
}

// numberOccurrences tells apart the same secret found more than once in
// one file (and commit): the n-th occurrence gets n in its fingerprint,
// which edits elsewhere in the file leave alone.
func numberOccurrences(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Commit, b.Commit), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	seen := map[string]int{}
	for i := range fs {
		k := fs[i].Path + "\x00" + fs[i].Commit + "\x00" + fs[i].Rule + "\x00" + fs[i].key
		if n := seen[k]; n > 0 {
			fs[i].key += fmt.Sprintf("#%d", n)
		}
		seen[k]++
	}
}

func secretFinding(root string, f report.Finding) Finding {
	p := f.File
	if filepath.IsAbs(p) {
		if r, err := filepath.Rel(root, p); err == nil {
			p = r
		}
	}
	p = filepath.ToSlash(p)
	sum := sha256.Sum256([]byte(f.Secret))
	desc := f.Description
	if desc == "" {
		desc = f.RuleID
	}
	out := Finding{
		Kind: KindSecret, Rule: f.RuleID, Severity: High,
		Path: p, Line: f.StartLine, Column: f.StartColumn,
		Message: desc + " (value redacted)",
		Fix:     "remove the secret from the file (and from git history), rotate it, and read it from a secret store",
		Commit:  f.Commit,
		key:     hex.EncodeToString(sum[:]),
	}
	if f.Commit != "" {
		out.Message = fmt.Sprintf("%s in commit %.12s (value redacted)", desc, f.Commit)
	}
	// A private key or a cloud provider's key is worse than a generic token.
	if strings.Contains(f.RuleID, "private-key") || strings.HasPrefix(f.RuleID, "aws") || strings.HasPrefix(f.RuleID, "gcp") || strings.HasPrefix(f.RuleID, "azure") {
		out.Severity = Critical
	}
	return out
}
