package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/cache"
)

// newCacheCmd is `tug cache`: look into and shrink the job cache.
func newCacheCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and prune the job cache",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCacheLsCmd(a), newCachePruneCmd(a))
	return cmd
}

func newCacheLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List cache entries, most recently used first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var entries []cache.EntryInfo
			c, ok, err := openCache(a)
			if err != nil {
				return err
			}
			if ok {
				if entries, err = c.List(cmd.Context()); err != nil {
					return err
				}
			}
			if a.jsonOut {
				if entries == nil {
					entries = []cache.EntryInfo{}
				}
				return writeJSONTo(a, entries)
			}
			if len(entries) == 0 {
				fmt.Fprintln(a.out, "The job cache is empty.")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tJOB\tSIZE\tARTIFACTS\tLAST USED")
			var total int64
			for _, e := range entries {
				total += e.Size
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", cacheKeyPrefix(e.Key), e.Job, cacheBytes(e.Size), e.Artifacts,
					e.LastUsed.Local().Format("2006-01-02 15:04:05"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d %s, %s (shared files counted once per entry)\n", len(entries), countWord(len(entries), "entry", "entries"), cacheBytes(total))
			return nil
		},
	}
}

func newCachePruneCmd(a *app) *cobra.Command {
	var (
		all       bool
		olderThan time.Duration
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove cache entries and the files nothing uses any more",
		Long: "Without flags, prune removes only files no entry or run refers to and\n" +
			"leftovers of interrupted writes. --older-than removes entries not used,\n" +
			"and run artifacts not written, within that age (7d, 2w, 36h).\n" +
			"--all empties the cache and every run's artifacts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := cache.PruneOptions{All: all}
			if cmd.Flags().Changed("older-than") {
				if olderThan <= 0 {
					return badInputf("--older-than must be longer than zero")
				}
				opts.OlderThan = olderThan
			}
			var res cache.PruneResult
			c, ok, err := openCache(a)
			if err != nil {
				return err
			}
			if ok {
				if res, err = c.Prune(cmd.Context(), opts); err != nil {
					return err
				}
			}
			if a.jsonOut {
				return writeJSONTo(a, res)
			}
			fmt.Fprintf(a.out, "Removed %d cache %s, the artifacts of %d %s and %d %s (%s freed).\n",
				len(res.Entries), countWord(len(res.Entries), "entry", "entries"),
				len(res.Runs), countWord(len(res.Runs), "run", "runs"),
				res.Blobs, countWord(res.Blobs, "file", "files"), cacheBytes(res.Freed))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every entry and every run's artifacts")
	durationVar(cmd.Flags(), &olderThan, "older-than", 0, "remove what was not used within this age (e.g. 7d, 2w, 36h)")
	return cmd
}

// openCache opens the cache of the state directory; ok is false (and
// nothing is created) when there is no state directory yet.
func openCache(a *app) (c *cache.Cache, ok bool, err error) {
	dir := a.stateDir()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	c, err = cache.New(dir, cache.Options{})
	if err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// cacheBytes prints a byte count with a binary unit.
func cacheBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func cacheKeyPrefix(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

func countWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeJSONTo prints v as indented JSON on the app's output.
func writeJSONTo(a *app, v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stateDirOf is the state directory cache commands use, for messages.
func stateDirOf(a *app) string { return filepath.Clean(a.stateDir()) }
