package runtime

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

var _ TimedLogs = (*Docker)(nil)

// LogsSince reads the container's log with the engine's timestamps and
// merges stdout and stderr by time, its secrets masked.
func (d *Docker) LogsSince(ctx context.Context, id string, since time.Time) ([]LogLine, error) {
	in, err := d.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	rc, err := d.cli.ContainerLogs(ctx, in.cid, opts)
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", id, err)
	}
	defer rc.Close()
	var out, errs bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errs, rc); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", id, err)
	}
	lines := append(timedLines(out.Bytes(), false), timedLines(errs.Bytes(), true)...)
	slices.SortStableFunc(lines, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	if err := d.maskLines(ctx, in, len(lines), func(i int) *string { return &lines[i].Text }); err != nil {
		return nil, err
	}
	return lines, nil
}

// timedLines parses "<RFC 3339 time> <text>" lines as the engine writes
// them with timestamps; a line without a time keeps the previous one's.
func timedLines(b []byte, stderr bool) []LogLine {
	var out []LogLine
	var last time.Time
	for _, l := range splitLines(b) {
		ts, text, ok := bytes.Cut([]byte(l), []byte(" "))
		if t, err := time.Parse(time.RFC3339Nano, string(ts)); ok && err == nil {
			last = t
			l = string(text)
		}
		out = append(out, LogLine{Time: last, Stderr: stderr, Text: l})
	}
	return out
}
