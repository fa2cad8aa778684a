// Package runtime starts, supervises, lists and stops service instances:
// processes on this host or containers in the Docker engine. Instances
// outlive the server that started them; a new server adopts them by List.
package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// Sentinel errors, wrapped with detail and checked with errors.Is.
var (
	// ErrNotFound: no instance with that ID is owned by this runtime.
	ErrNotFound = errors.New("instance not found")
	// ErrStart: the instance could not be started (bad command, missing image).
	ErrStart = errors.New("instance failed to start")
	// ErrExists: Start was given the ID of an instance that already exists.
	ErrExists = errors.New("instance already exists")
	// ErrImageNotFound: a container instance's image is not in the local
	// engine (tug never pulls for a service).
	ErrImageNotFound = errors.New("image not found locally")
	// ErrClosed: the runtime was closed.
	ErrClosed = errors.New("runtime closed")
)

// Runtime runs the instances of service releases.
//
// Contract:
//   - Start returns once the instance is started (not necessarily healthy):
//     Instance.Addr is where it listens. It does not wait for health; the
//     caller probes. ctx bounds only the start itself, never the instance's
//     life: instances keep running after ctx ends and after the process
//     that started them exits.
//   - While the runtime value lives it supervises what it started or
//     adopted: a crashed instance is restarted with exponential backoff
//     (1s doubling to 1m, reset after 1m of uptime); 5 crashes within 5
//     minutes mark it CrashLoop (still retried, at the longest backoff).
//   - Stop sends SIGTERM (or the engine's stop), waits up to grace, then
//     kills. Stop of an unknown ID returns ErrNotFound; Stop is idempotent
//     for an instance already exited.
//   - List returns every instance this runtime owns, including those
//     started by an earlier process (found by PID files or container
//     labels), and starts supervising the ones it did not know.
//   - Logs returns up to n last lines of the instance's stdout and stderr
//     interleaved in arrival order, the instance's own secret values
//     (however encoded) masked.
//   - All methods are safe for concurrent use. Close stops supervision
//     (not the instances) and must be called once, last.
type Runtime interface {
	Start(ctx context.Context, spec Spec) (Instance, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	List(ctx context.Context) ([]Instance, error)
	Logs(ctx context.Context, id string, n int) ([]string, error)
	Close() error
}

// TimedLogs is implemented by runtimes whose engine keeps each line with
// its time (docker), so a collector resumes exactly where it stopped and
// stores the engine's times. Safe for concurrent use; honours ctx.
type TimedLogs interface {
	// LogsSince returns instance id's lines recorded at or after since
	// (all kept, for a zero since), oldest first, its secret values
	// masked as by Logs.
	LogsSince(ctx context.Context, id string, since time.Time) ([]LogLine, error)
}

// LogLine is one line an engine recorded.
type LogLine struct {
	Time   time.Time
	Stderr bool
	Text   string
}

// Spec is what to run for one instance.
type Spec struct {
	// ID is unique across all instances ever started ("web-production-r7-2").
	ID          string
	Service     string
	Environment string
	Release     string
	// Dir is the working directory of a process instance (the release copy).
	Dir string
	// Command is run by `bash -c` for a process instance.
	Command string
	// Image is the image reference or ID of a container instance.
	Image string
	// Port is the port the app listens on inside a container. For a
	// process, 0 means: pick a free port; $PORT is set either way.
	Port    int
	Env     map[string]string
	Secrets map[string]secret.Value
}

// State of an instance as the runtime last saw it.
type State string

// Instance states.
const (
	Running    State = "running"
	Restarting State = "restarting"
	Exited     State = "exited"
)

// Instance is one running copy of a release.
type Instance struct {
	ID          string `json:"id"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Release     string `json:"release"`
	// Addr is host:port on loopback where the instance serves.
	Addr        string `json:"addr"`
	PID         int    `json:"pid,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	State       State  `json:"state"`
	Restarts    int    `json:"restarts"`
	CrashLoop   bool   `json:"crash_loop,omitempty"`
	// LastExit describes the last exit ("exit status 2", "signal: killed").
	LastExit  string    `json:"last_exit,omitempty"`
	StartedAt time.Time `json:"started_at"`
}
