package logs

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
)

// Handler wraps next so that every record of level Info or above (or
// whatever next enables) is also stored as a line of service "tug".
// Storing never blocks the caller: records wait in a bounded queue that
// Run drains every poll, and are dropped (counted) when it is full.
// store may be nil (the records only go to next).
func Handler(next slog.Handler, store *Logs) slog.Handler {
	return &handler{next: next, store: store}
}

type handler struct {
	next   slog.Handler
	store  *Logs
	pre    string // attributes added with WithAttrs, formatted
	prefix string // group prefix ("a.b.")
}

var _ slog.Handler = (*handler)(nil)

func (h *handler) Enabled(ctx context.Context, lv slog.Level) bool {
	return (h.store != nil && lv >= slog.LevelInfo) || h.next.Enabled(ctx, lv)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if h.store != nil && r.Level >= slog.LevelInfo {
		var b strings.Builder
		b.WriteString(r.Level.String())
		b.WriteByte(' ')
		b.WriteString(r.Message)
		b.WriteString(h.pre)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.prefix, a)
			return true
		})
		ln := Line{Time: r.Time.UTC(), Service: ServiceTug, Stream: StreamTug, Text: b.String()}
		if r.Time.IsZero() {
			ln.Time = h.store.o.Now().UTC()
		}
		select {
		case h.store.tugq <- ln:
		default:
			h.store.dropped.Add(1)
		}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.pre)
	for _, a := range as {
		appendAttr(&b, h.prefix, a)
	}
	return &handler{next: h.next.WithAttrs(as), store: h.store, pre: b.String(), prefix: h.prefix}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{next: h.next.WithGroup(name), store: h.store, pre: h.pre, prefix: h.prefix + name + "."}
}

// appendAttr writes " key=value" like slog's text format.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}
