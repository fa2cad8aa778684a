package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// ErrStateInconsistent means the state directory holds releases or
// instances its history (tug.db) does not record: the history was lost
// (an emptied or deleted tug.db) or replaced by an older copy.
var ErrStateInconsistent = errors.New("state directory inconsistent with its history")

// lostFound is where --force moves release copies the history does not
// record, inside the state directory.
const lostFound = "lost+found"

// checkState runs the state directory's start-up checks, with the
// server's lock held and before the history is opened: it makes the
// directory private (see store.PrepareStateDir; what it changed is
// logged), then checks the history against what the directory holds.
func checkState(ctx context.Context, o Options) error {
	changed, err := store.PrepareStateDir(o.StateDir, filepath.Join(filepath.Dir(o.ConfigPath), secret.LocalFile))
	if err != nil {
		return err
	}
	for _, c := range changed {
		o.Logger.Warn("state directory was open to other users; made private", "change", c)
	}
	return checkHistory(ctx, o)
}

// checkHistory refuses to start when the directory holds release copies
// numbered beyond what the history records, or instances while it
// records no release and no deploy state at all. Starting would silently begin a new history:
// what is live forgotten, and new releases numbered (and built into
// directories) like old ones, whose copies a deploy would then run. With
// Options.Force it starts anyway: the unknown copies are moved to
// lost+found, so nothing reuses them, and the deploy manager's recovery
// keeps the instances the proxy routes to and stops the others.
func checkHistory(ctx context.Context, o Options) error {
	h, err := store.ReadHistory(ctx, o.StateDir)
	if err != nil {
		return err
	}
	unknown, err := unknownReleases(o.StateDir, h.MaxRelease)
	if err != nil {
		return err
	}
	instances := countInstances(o.StateDir)
	strays := instances > 0 && h.Releases == 0 && h.DeployRecords == 0
	if len(unknown) == 0 && !strays {
		return nil
	}
	db := filepath.Join(o.StateDir, store.FileName)
	var what string
	switch {
	case h.Size < 0:
		what = db + " is missing"
	case h.Size == 0:
		what = db + " is empty (0 bytes)"
	case h.Releases == 0:
		what = db + " records no release"
	default:
		what = fmt.Sprintf("%s records releases up to r%d", db, h.MaxRelease)
	}
	var found []string
	if len(unknown) > 0 {
		found = append(found, fmt.Sprintf("%d release copies it does not record (%s)", len(unknown), summarize(unknown)))
	}
	if strays {
		found = append(found, fmt.Sprintf("the state of %d instances", instances))
	}
	problem := fmt.Sprintf("%s, but the state directory holds %s", what, strings.Join(found, " and "))
	if !o.Force {
		return fmt.Errorf("%w: %s: the history was lost or replaced by an older copy. Starting would forget what is live and number new releases like the old ones, reusing their copies. "+
			"Restore %s from a backup, or start with --force to begin a new history: the unrecorded release copies are moved to %s, "+
			"instances the proxy does not route to are stopped, and each service needs deploying again",
			ErrStateInconsistent, problem, store.FileName, filepath.Join(o.StateDir, lostFound))
	}
	o.Logger.Warn("starting despite an inconsistent state directory (--force)", "problem", problem)
	if len(unknown) == 0 {
		return nil
	}
	dst := filepath.Join(o.StateDir, lostFound, "releases-"+o.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("--force: %w", err)
	}
	for _, id := range unknown {
		if err := os.Rename(filepath.Join(o.StateDir, "releases", id), filepath.Join(dst, id)); err != nil {
			return fmt.Errorf("--force: move release copy %s aside: %w", id, err)
		}
	}
	o.Logger.Warn("moved the release copies the history does not record", "releases", len(unknown), "to", dst)
	return nil
}

// unknownReleases lists the release copies (directories "r<n>") numbered
// above maxKnown, in number order.
func unknownReleases(stateDir string, maxKnown int64) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(stateDir, "releases"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var out []string
	for _, e := range ents {
		n, ok := releaseNumber(e.Name())
		if e.IsDir() && ok && n > maxKnown {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		x, _ := releaseNumber(a)
		y, _ := releaseNumber(b)
		return int(x - y)
	})
	return out, nil
}

// releaseNumber is n of a release ID "r<n>".
func releaseNumber(id string) (int64, bool) {
	digits, ok := strings.CutPrefix(id, "r")
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, ok && err == nil && n > 0
}

// countInstances counts the instances whose state the directory holds:
// process instances' state files and Docker instances' histories.
func countInstances(stateDir string) int {
	procs, _ := filepath.Glob(filepath.Join(stateDir, "instances", "*", "state.json"))
	ctrs, _ := filepath.Glob(filepath.Join(stateDir, "docker", "*.json"))
	return len(procs) + len(ctrs)
}

// summarize names up to five IDs.
func summarize(ids []string) string {
	if len(ids) <= 5 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:5], ", ") + fmt.Sprintf(" and %d more", len(ids)-5)
}
