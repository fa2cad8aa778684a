package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/tugdev/tug/internal/deploy"
)

// streamRelease runs fn under the server's life (Options.Life), not the
// request's, and answers with NDJSON: one StreamLine per progress event,
// then a final line with the release (and the error, if it failed). The
// status line is held back until the first event, so an error before any
// progress (busy, unknown release) keeps its own HTTP status. A client
// that goes away stops the answer, not fn. Progress never blocks fn:
// events queue in memory while someone reads them.
func (h *Handler) streamRelease(w http.ResponseWriter, r *http.Request, fn func(context.Context, deploy.Progress) (*deploy.Release, error)) error {
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
	go func() {
		rel, err := fn(life, progress)
		done <- result{rel, err}
	}()

	started := false
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	start := func() {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
	}
	flushEvents := func() {
		mu.Lock()
		evs := queue
		queue = nil
		mu.Unlock()
		if len(evs) == 0 {
			return
		}
		start()
		for i := range evs {
			_ = enc.Encode(StreamLine{Event: &evs[i]})
		}
		_ = rc.Flush()
	}
	for {
		select {
		case <-notify:
			flushEvents()
		case <-r.Context().Done():
			mu.Lock()
			gone, queue = true, nil
			mu.Unlock()
			h.log.Info("client stopped following; the release goes on", "path", r.URL.Path)
			return nil
		case res := <-done:
			flushEvents()
			if !started && res.err != nil {
				return res.err
			}
			start()
			line := StreamLine{Done: true, Release: res.rel}
			if res.err != nil {
				line.Status, line.Error = toAPIError(res.err)
			}
			_ = enc.Encode(line)
			_ = rc.Flush()
			return nil
		}
	}
}
