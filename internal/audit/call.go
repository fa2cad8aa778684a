package audit

import (
	"context"
	"sync"
)

// Call is the record of one API call while it is served. The API starts
// it with what it knows (actor, action, source) and writes it when the
// call ends; the operation's handler, in whatever room, may name the
// target (SetTarget) or take the writing over to record an outcome that
// comes later (Defer: a deploy that goes on after its client left).
// Safe for concurrent use.
type Call struct {
	mu       sync.Mutex
	rec      Record
	write    func(context.Context, Record) error
	deferred bool
	done     bool
}

type callKey struct{}

// StartCall returns ctx carrying a call whose record starts as rec and
// is written with write.
func StartCall(ctx context.Context, rec Record, write func(context.Context, Record) error) (context.Context, *Call) {
	c := &Call{rec: rec, write: write}
	return context.WithValue(ctx, callKey{}, c), c
}

// CallOf is the call ctx carries, or nil.
func CallOf(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// SetTarget names what the call acts on ("web/production", a secret's
// name); a no-op outside an audited call. Never a secret value.
func SetTarget(ctx context.Context, target string) {
	if c := CallOf(ctx); c != nil {
		c.mu.Lock()
		c.rec.Target = target
		c.mu.Unlock()
	}
}

// Defer takes the writing of the call's record over from the API: the
// record is written when the returned function is called, with the
// outcome and detail given then, and not when the call ends. Outside an
// audited call the function does nothing. Call it at most once.
func Defer(ctx context.Context) func(outcome, detail string) {
	c := CallOf(ctx)
	if c == nil {
		return func(string, string) {}
	}
	c.mu.Lock()
	c.deferred = true
	c.mu.Unlock()
	life := context.WithoutCancel(ctx)
	return func(outcome, detail string) { c.finish(life, outcome, detail, true) }
}

// Finish writes the call's record with outcome and detail, unless the
// handler deferred it or it was written already.
func (c *Call) Finish(ctx context.Context, outcome, detail string) error {
	return c.finish(ctx, outcome, detail, false)
}

func (c *Call) finish(ctx context.Context, outcome, detail string, deferred bool) error {
	c.mu.Lock()
	if c.done || c.deferred != deferred {
		c.mu.Unlock()
		return nil
	}
	c.done = true
	rec := c.rec
	c.mu.Unlock()
	rec.Outcome, rec.Detail = outcome, detail
	return c.write(ctx, rec)
}

// Record is the call's record so far.
func (c *Call) Record() Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec
}
