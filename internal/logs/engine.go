package logs

import (
	"context"
	"time"
)

// Engine-logged (docker) instances have no file to tail. With
// Options.Since, each read asks for the lines after the last one stored,
// by the engine's timestamps (timedEngineLines). Without it, their last
// engineTail lines are fetched and the part after the lines already seen
// is new. Matching uses the last engineOverlap lines seen; when lines
// repeat, the earliest match wins, so a repeat can be stored twice but a
// new line is not skipped. Lines that scroll past engineTail between two
// reads are lost. After a restart the seen lines come from the database.
const (
	engineTail    = 500
	engineOverlap = 20
)

func (l *Logs) engineLines(ctx context.Context, now time.Time) []Line {
	if l.o.Since != nil {
		return l.timedEngineLines(ctx, now)
	}
	if l.o.Tail == nil {
		return nil
	}
	var out []Line
	for _, in := range l.ins {
		if in.ContainerID == "" {
			continue
		}
		seen, ok := l.engine[in.ID]
		if !ok {
			seen, _ = lastLines(ctx, l.db, in.ID, engineOverlap)
		}
		tail, err := l.o.Tail(ctx, in.ID, engineTail)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Debug("logs: engine tail failed", "instance", in.ID, "err", err)
			}
			continue
		}
		for _, t := range newAfter(seen, tail) {
			out = append(out, Line{Time: now, Service: in.Service, Environment: in.Environment, Release: in.Release,
				Instance: in.ID, Stream: StreamStdout, Text: t})
		}
		if len(tail) > engineOverlap {
			tail = tail[len(tail)-engineOverlap:]
		}
		if len(tail) > 0 || !ok {
			l.engine[in.ID] = append([]string(nil), tail...)
		}
	}
	return out
}

// newAfter returns the lines of tail after the earliest place where seen
// (its last lines) ends; all of tail when seen is not found.
func newAfter(seen, tail []string) []string {
	if len(seen) == 0 {
		return tail
	}
	k := min(len(seen), engineOverlap)
	seen = seen[len(seen)-k:]
	// Shorter suffixes of seen are tried when tail holds only its end.
	for m := k; m >= 1; m-- {
		want := seen[k-m:]
		for j := m; j <= len(tail); j++ {
			if equal(tail[j-m:j], want) && (m == k || j == m) {
				return tail[j:]
			}
		}
	}
	return tail
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// timedEngineLines reads each engine-logged instance's lines after the
// last one stored (after a restart: the newest in the database, but no
// older than the retention), with the engine's times.
func (l *Logs) timedEngineLines(ctx context.Context, now time.Time) []Line {
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
			if floor := now.Add(-l.o.Retention); at.Before(floor) {
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
