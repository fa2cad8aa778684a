package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"
)

// openTSDB opens the embedded TSDB in dir with the given retention. The
// TSDB's own WAL makes a crash lose at most the samples not yet written to
// it; blocks are written temp-then-rename by the TSDB itself.
func openTSDB(dir string, retention time.Duration, log *slog.Logger, reg prometheus.Registerer) (*tsdb.DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metrics storage %s: %w", dir, err)
	}
	o := tsdb.DefaultOptions()
	o.RetentionDuration = retention.Milliseconds()
	// The TSDB narrates WAL replays and compactions at Info; tug keeps
	// only its warnings.
	db, err := tsdb.Open(dir, slog.New(minLevel{log.Handler(), slog.LevelWarn}), reg, o, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics storage %s: %w", dir, err)
	}
	return db, nil
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
