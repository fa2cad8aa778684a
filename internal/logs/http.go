package logs

import (
	"context"
	"errors"
	"net/http"

	"github.com/tugdev/tug/internal/endpoint"
)

// Params select the lines of GET /api/logs.
type Params struct {
	Service string `query:"service,required" doc:"a service, \"tug\" for tug's own lines or \"proxy\" for every access line"`
	Env     string `query:"env" doc:"only this environment"`
	Since   string `query:"since" doc:"only lines newer than this: a duration back from now (10m, 2h, 7d) or an RFC 3339 time"`
	Grep    string `query:"grep" doc:"only lines matching this Go regular expression"`
	Limit   int    `query:"limit" doc:"at most this many of the newest matches (default 1000)"`
	Follow  bool   `query:"follow" doc:"after the matches, stream lines stored later until the client goes"`
}

// OpLogs is the logs API: NDJSON, one Line per line.
var OpLogs = endpoint.Declare[Params, endpoint.None, Line](http.MethodGet, "/api/logs", endpoint.Viewer,
	"Search the logs of a service, the proxy or tug: the newest matches, oldest first; with follow, the lines stored afterwards too, as they come.")

// ErrNoLogs answers the logs API of a server that keeps no logs.
var ErrNoLogs = errors.New("this server keeps no logs")

// Ops binds the logs API to l (nil answers ErrNoLogs).
func Ops(l *Logs) []endpoint.Op {
	return []endpoint.Op{OpLogs.Stream(func(ctx context.Context, p Params, _ endpoint.None, send func(Line) error) error {
		if l == nil {
			return ErrNoLogs
		}
		return l.Stream(ctx, p, send)
	})}
}

// Stream sends the newest lines p selects, oldest first, then, with
// p.Follow, the lines stored afterwards until ctx ends; nothing twice and
// no gap between the two. It stops at the first error of send.
func (l *Logs) Stream(ctx context.Context, p Params, send func(Line) error) error {
	q, err := p.Query(l.o.Now())
	if err != nil {
		return err
	}
	if p.Follow {
		// The search ends where the follow starts: nothing twice, no gap.
		if q.until, err = l.top(ctx); err != nil {
			return err
		}
		if q.untilAccess, err = accessEnd(accessDir(l.o.StateDir)); err != nil {
			return err
		}
		q.After = 0
	}
	lines, err := l.Search(ctx, q)
	if err != nil {
		return err
	}
	for _, ln := range lines {
		if err := send(ln); err != nil {
			return nil // client gone
		}
	}
	if !p.Follow {
		return nil
	}
	q.After, q.Limit, q.afterAccess = q.until, 0, q.untilAccess
	if q.After == 0 {
		q.After = -1 // the store was empty: everything from now on
	}
	err = l.Follow(ctx, q, send)
	if err != nil && ctx.Err() == nil {
		l.log.Debug("logs: follow ended", "err", err)
	}
	return nil
}
