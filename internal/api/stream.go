package api

import (
	"context"
	"sync"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/deploy"
)

// streamRelease runs fn under the server's life (Options.Life), not the
// request's, and sends one StreamLine per progress event, then a final
// line with the release (and the error, if it failed). Nothing is sent
// before the first event, so an error before any progress (busy, unknown
// release) keeps its own HTTP status. A client that goes away (ctx)
// stops the answer, not fn. Progress never blocks fn: events queue in
// memory while someone reads them. The call's audit record is written
// when fn returns, with the release's outcome, whether or not the client
// still follows.
func (h *Handler) streamRelease(ctx context.Context, send func(StreamLine) error, fn func(context.Context, deploy.Progress) (*deploy.Release, error)) error {
	var (
		mu     sync.Mutex
		queue  []deploy.Event
		gone   bool
		notify = make(chan struct{}, 1)
	)
	progress := func(e deploy.Event) {
		mu.Lock()
		if !gone {
			queue = append(queue, e)
		}
		mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	type result struct {
		rel *deploy.Release
		err error
	}
	life := h.opts.Life
	if life == nil {
		life = context.Background()
	}
	done := make(chan result, 1)
	record := audit.Defer(ctx)
	go func() {
		rel, err := fn(life, progress)
		done <- result{rel, err}
		record(releaseOutcome(rel, err))
	}()

	sent := false
	flushEvents := func() {
		mu.Lock()
		evs := queue
		queue = nil
		mu.Unlock()
		for i := range evs {
			_ = send(StreamLine{Event: &evs[i]})
			sent = true
		}
	}
	for {
		select {
		case <-notify:
			flushEvents()
		case <-ctx.Done():
			mu.Lock()
			gone, queue = true, nil
			mu.Unlock()
			h.log.Info("client stopped following; the release goes on")
			return nil
		case res := <-done:
			flushEvents()
			if !sent && res.err != nil {
				return res.err
			}
			line := StreamLine{Done: true, Release: res.rel}
			if res.err != nil {
				line.Error = describe(res.err)
				line.Status = line.Error.Status
			}
			_ = send(line)
			return nil
		}
	}
}
