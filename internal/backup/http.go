package backup

import (
	"context"
	"errors"
	"net/http"

	"github.com/tugdev/tug/internal/endpoint"
)

// NameParams names one backup.
type NameParams struct {
	Name string `path:"name" doc:"the backup's name in tug.yaml"`
}

// ErrNoBackups: this server runs no backups (a drill's scratch server).
var ErrNoBackups = errors.New("this server runs no backups")

// The backup API's operations: the server owns the backups it runs on
// their schedules, so a backup asked for while it runs is its to take
// (its TSDB snapshot, its audit log, its lock).
var (
	OpRun = endpoint.Declare[NameParams, endpoint.None, RunResult](
		http.MethodPost, "/api/backups/{name}/run", endpoint.Deployer,
		"Take a backup now (a snapshot, then its retention policy); busy (409) while the same backup or its restore test runs.")
)

// Ops binds the backup operations to the Manager live returns (nil, or
// a nil Manager, answers ErrNoBackups).
func Ops(live func() *Manager) []endpoint.Op {
	return []endpoint.Op{
		OpRun.JSON(func(ctx context.Context, p NameParams, _ endpoint.None) (RunResult, error) {
			var m *Manager
			if live != nil {
				m = live()
			}
			if m == nil {
				return RunResult{}, ErrNoBackups
			}
			res, err := m.Run(ctx, p.Name, RunOptions{})
			if err != nil {
				return RunResult{}, err
			}
			return *res, nil
		}),
	}
}
