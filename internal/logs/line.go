package logs

import "time"

// Streams say where a line came from.
const (
	StreamStdout = "stdout" // an instance's stdout and stderr, interleaved
	StreamAccess = "access" // one proxy access-log line (JSON), read from proxy/access/
	StreamTug    = "tug"    // tug's own log
)

// Pseudo-services: "tug" selects tug's own log; "proxy" selects every
// access-log line, also those of requests that matched no service.
const (
	ServiceTug   = "tug"
	ServiceProxy = "proxy"
)

// Line is one log line with its attribution. ID grows with insertion
// order and is never reused, so followers resume after it; access-log
// lines, read from the proxy's files rather than stored, have ID 0.
type Line struct {
	ID          int64     `json:"id"`
	Time        time.Time `json:"ts"`
	Service     string    `json:"service"`
	Environment string    `json:"environment,omitempty"`
	Release     string    `json:"release,omitempty"`
	Instance    string    `json:"instance,omitempty"`
	Stream      string    `json:"stream"`
	Text        string    `json:"text"`
}
