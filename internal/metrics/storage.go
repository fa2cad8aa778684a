package metrics

import (
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
	db, err := tsdb.Open(dir, log, reg, o, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics storage %s: %w", dir, err)
	}
	return db, nil
}
