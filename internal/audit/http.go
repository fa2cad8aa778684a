package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
)

// Parameters and answers of the audit API.
type (
	// Params select the records of GET /api/audit.
	Params struct {
		Since string `query:"since" doc:"only records from this time on: a duration back from now (1h, 7d) or an RFC 3339 time"`
		Actor string `query:"actor" doc:"only this actor's records: as recorded, a token's name, or a user name"`
		Limit int    `query:"limit" doc:"the newest this many (default 100; 0: all)"`
	}
	// RecordsResponse is GET /api/audit.
	RecordsResponse struct {
		Records []Record `json:"records"`
	}
)

// The audit API's operations: the admin's, as the log says who holds
// which token and from where they act.
var (
	OpRecords = endpoint.Declare[Params, endpoint.None, RecordsResponse](http.MethodGet, "/api/audit", endpoint.Admin,
		"Audit records, oldest first: who did what, to what, from where, with what outcome, when.")
	OpVerify = endpoint.Declare[endpoint.None, endpoint.None, Report](http.MethodGet, "/api/audit/verify", endpoint.Admin,
		"Check the audit log's hash chain: every record changed, removed or moved is named; problems is empty when it is intact.")
)

// ErrNoLog answers the audit API of a server that keeps no audit log.
var ErrNoLog = errors.New("this server keeps no audit log")

// ErrBadQuery: a bad since or limit.
var ErrBadQuery = errors.New("bad audit query")

// DefaultLimit is how many records GET /api/audit gives without a limit.
const DefaultLimit = 100

// Ops binds the audit API to l (nil answers ErrNoLog); now is the clock
// that since is counted back from.
func Ops(l *Log, now func() time.Time) []endpoint.Op {
	if now == nil {
		now = time.Now
	}
	return []endpoint.Op{
		OpRecords.JSON(func(ctx context.Context, p Params, _ endpoint.None) (RecordsResponse, error) {
			if l == nil {
				return RecordsResponse{}, ErrNoLog
			}
			f := Filter{Actor: p.Actor, Limit: DefaultLimit}
			if p.Limit < 0 {
				return RecordsResponse{}, fmt.Errorf("%w: limit: %d is not a non-negative integer", ErrBadQuery, p.Limit)
			}
			if p.Limit > 0 {
				f.Limit = p.Limit
			}
			if p.Since != "" {
				t, err := kit.ParseSince(p.Since, now())
				if err != nil {
					return RecordsResponse{}, fmt.Errorf("%w: since: %v", ErrBadQuery, err)
				}
				f.Since = t
			}
			recs, err := l.Query(ctx, f)
			if recs == nil {
				recs = []Record{}
			}
			return RecordsResponse{Records: recs}, err
		}),
		OpVerify.JSON(func(context.Context, endpoint.None, endpoint.None) (Report, error) {
			if l == nil {
				return Report{}, ErrNoLog
			}
			rep, err := l.Verify()
			if err != nil {
				return Report{}, err
			}
			return *rep, nil
		}),
	}
}
