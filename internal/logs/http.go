package logs

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Handler serves GET /api/logs?service=&env=&since=&grep=&limit=&follow=1
// as NDJSON, one Line per line: the newest matches, oldest first; with
// follow=1 the lines stored afterwards too, flushed as they come, until
// the client goes. Errors are {"error":{"code","message"}}: 400
// "bad_request" naming the parameter, 405, 500.
func (l *Logs) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := l.serve(w, r); err != nil {
			writeError(w, err)
		}
	})
}

// errMethod marks a request with a method other than GET.
var errMethod = errors.New("method not allowed: use GET")

func (l *Logs) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return errMethod
	}
	v := r.URL.Query()
	q, err := ParseQuery(v, l.o.Now())
	if err != nil {
		return err
	}
	follow := false
	switch v.Get("follow") {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		return &paramError{"follow: want 1 or 0"}
	}
	ctx := r.Context()
	if follow {
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
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, ln := range lines {
		if err := enc.Encode(ln); err != nil {
			return nil // client gone
		}
	}
	if !follow {
		return nil
	}
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	q.After, q.Limit, q.afterAccess = q.until, 0, q.untilAccess
	if q.After == 0 {
		q.After = -1 // the store was empty: everything from now on
	}
	err = l.Follow(ctx, q, func(ln Line) error { return sendLine(enc, fl, ln) })
	if err != nil && ctx.Err() == nil {
		l.log.Debug("logs: follow ended", "err", err)
	}
	return nil
}

func sendLine(enc *json.Encoder, fl http.Flusher, ln Line) error {
	if err := enc.Encode(ln); err != nil {
		return err
	}
	if fl != nil {
		fl.Flush()
	}
	return nil
}

type paramError struct{ msg string }

func (e *paramError) Error() string   { return e.msg }
func (e *paramError) Is(t error) bool { return t == ErrBadQuery }

// writeError is the one place this API's errors become JSON.
func writeError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, ErrBadQuery):
		status, code = http.StatusBadRequest, "bad_request"
	case errors.Is(err, errMethod):
		status, code = http.StatusMethodNotAllowed, "method_not_allowed"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
}
