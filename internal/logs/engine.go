package logs

import (
	"context"
	"time"
)

// engineLines reads each engine-logged (docker) instance's lines after
// the last one stored (after a restart, the newest in the database, but
// no older than the retention), by the engine's timestamps: nothing is
// lost between reads or stored twice, and lines keep the engine's times.
// They come with the instance's secrets masked (runtime.TimedLogs), so
// what is stored holds none.
func (l *Logs) engineLines(ctx context.Context, now time.Time) []Line {
	if l.o.Since == nil {
		return nil
	}
	var out []Line
	for _, in := range l.ins {
		if in.ContainerID == "" {
			continue
		}
		at, ok := l.engineAt[in.ID]
		if !ok {
			t, err := lastTime(ctx, l.db, in.Service, in.ID)
			if err != nil {
				continue
			}
			at = t
			if floor := now.Add(-l.Retention()); at.Before(floor) {
				at = floor
			}
		}
		got, err := l.o.Since(ctx, in.ID, at.Add(time.Nanosecond)) // at itself is stored
		if err != nil {
			if ctx.Err() == nil {
				l.log.Debug("logs: engine read failed", "instance", in.ID, "err", err)
			}
			continue
		}
		for _, g := range got {
			t := g.Time
			if t.IsZero() {
				t = now
			}
			out = append(out, Line{Time: t, Service: in.Service, Environment: in.Environment, Release: in.Release,
				Instance: in.ID, Stream: StreamStdout, Text: g.Text})
			if t.After(at) {
				at = t
			}
		}
		l.engineAt[in.ID] = at
	}
	return out
}
