package doctor

import (
	"context"
	"errors"
	"net/http"

	"github.com/tugdev/tug/internal/endpoint"
)

// OpSecurity runs the checks in the server, with its listeners and its
// instances' sockets.
var OpSecurity = endpoint.Declare[endpoint.None, endpoint.None, Report](http.MethodGet, "/api/doctor/security", endpoint.Admin,
	"Security posture: listeners, instances off loopback, secrets and state files others can read, tokens without expiry, certificates near expiry, services without health checks; each finding with a severity.")

// ErrUnavailable answers OpSecurity on a server that cannot gather its
// inputs.
var ErrUnavailable = errors.New("this server runs no security checks")

// Ops binds the doctor's API to inputs, which gathers what the checks
// look at at each call (nil answers ErrUnavailable).
func Ops(inputs func(context.Context) (Inputs, error)) []endpoint.Op {
	return []endpoint.Op{
		OpSecurity.JSON(func(ctx context.Context, _ endpoint.None, _ endpoint.None) (Report, error) {
			if inputs == nil {
				return Report{}, ErrUnavailable
			}
			in, err := inputs(ctx)
			if err != nil {
				return Report{}, err
			}
			return Security(in), nil
		}),
	}
}
