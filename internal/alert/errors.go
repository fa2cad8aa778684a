package alert

import "errors"

// Sentinel errors; errors returned by this package wrap one of them (or a
// delivery or storage error) and are checked with errors.Is.
var (
	// ErrInvalid wraps every rejected argument or config (bad matchers,
	// durations, IDs, expressions, channels, routes).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound wraps a silence, alert or SLO that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRuleFile wraps every problem with a Prometheus rule file.
	ErrRuleFile = errors.New("bad rule file")
	// ErrPermanent marks a delivery failure that retrying cannot fix (the
	// receiver rejected the request as bad, a secret is missing).
	ErrPermanent = errors.New("permanent delivery failure")
)
