// Package logs keeps every line tug knows of — instance stdout/stderr, the
// proxy's access log and tug's own slog records — with retention, and
// answers `tug logs` searches and follows.
//
// Storage: the proxy's access log stays in the proxy's own segment files
// (<state>/proxy/access/, hourly and size-limited, written in batches) and
// is read at query time (access.go): ingesting it line by line cost the
// server about 20µs of CPU per proxied request, which on a small machine
// came straight out of the proxy's throughput. Everything else goes into
// one SQLite database (modernc.org/sqlite, pure Go) at
// <state>/logs/logs.db, separate from the run history so log ingestion
// never contends with run bookkeeping for the write lock. Lines go into a
// plain table indexed by (service, id) and (stream, id) and (ts); the
// source files' read offsets live in the same database and are committed
// in the same transaction as the lines they produced, so a crash or
// restart can neither lose nor duplicate a line — the reason SQLite beats
// append-only segment files plus a separate offset file, which would need
// their own two-file commit protocol. Retention is one indexed DELETE.
//
// No FTS5 index, although modernc's SQLite has FTS5 (with the trigram
// tokenizer) compiled in — checked: --grep is a Go regular expression (FTS tokens cannot
// answer most regexps, so it could only prefilter), every query is already
// narrowed by service and time through the indexes, and an FTS index would
// roughly double the write cost and size of the busiest table. A scan of a
// service's recent lines with regexp is fast enough for an operator's
// terminal: TestSearchScanSpeed (TUG_MEASURE=1) scans 100k lines with a regexp in about
// 0.7s on a loaded 2-core machine; --since and --limit cut that further.
// If that ever is too slow, a trigram FTS5 table fed by the same commit
// can prefilter on the regexp's required literals.
package logs
