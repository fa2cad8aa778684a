package incident

import (
	"context"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/logs"
)

// Notifier is how incidents reach people: the alert room's channels. The
// server backs it with the alert engine in force. Methods are called from
// several goroutines at once and honour ctx.
type Notifier interface {
	// Send hands m to the channel named channel, retrying as alert
	// notifications are retried, records it in the notification history,
	// and returns that record (the error is the last delivery error).
	Send(ctx context.Context, channel string, m *alert.Message) (alert.Notification, error)
	// History lists the newest limit notifications, newest first.
	History(ctx context.Context, limit int) ([]alert.Notification, error)
	// Firing lists the alerts firing now; ok is false while the engine
	// cannot tell yet (it has not evaluated since it started).
	Firing() (alerts []*alert.Alert, ok bool)
}

// Actions change what runs: the deploy manager, as the server adapts it.
// Methods block until the change is done or failed, are called from
// several goroutines at once (never twice at once for one service and
// environment: the manager refuses with its busy error), and honour ctx.
// env "" is the service's default environment.
type Actions interface {
	// Rollback goes back to the previous good release; it returns the
	// release now live.
	Rollback(ctx context.Context, service, env, who string) (string, error)
	// Restart replaces one instance (instance "" is the first) with a
	// fresh one; it returns the new instance's ID.
	Restart(ctx context.Context, service, env, instance, who string) (string, error)
	// Scale makes the live release run n instances.
	Scale(ctx context.Context, service, env string, n int, who string) (before, after int, err error)
	// Replicas is how many instances of the live release take traffic.
	Replicas(ctx context.Context, service, env string) (int, error)
	// Busy says why an automatic action on the service must not run now
	// (a release waiting for approval, a deploy in progress); "" when
	// nothing stands in the way.
	Busy(ctx context.Context, service, env string) (string, error)
}

// Change is one thing that changed about a service, as a ChangeSource
// reports it for a timeline.
type Change struct {
	Time time.Time
	// Kind is the timeline kind: deploy, rollback, approval, config,
	// flag, restart, crash_loop, scale.
	Kind string
	Text string
	// Source names where it comes from (releases, config, flags, runtime).
	Source string
	// Who made the change, when known.
	Who string
	// Key identifies the change within its source, so a change gathered
	// twice is recorded once ("release:r7:deploy").
	Key string
	// Release is the release a deploy made, for the suspected cause.
	Release string
}

// ChangeSource reports the changes of a service (in env, "" for any)
// between from and to. The server feeds the incident room from several:
// the releases in the store (deploys, rollbacks, approvals), config
// applies, flag changes, instance restarts and crash loops. Changes is
// called from several goroutines at once, must honour ctx, and may return
// changes outside the window (they are dropped).
type ChangeSource interface {
	Changes(ctx context.Context, service, env string, from, to time.Time) ([]Change, error)
}

// ChangeFunc adapts a function to ChangeSource.
type ChangeFunc func(ctx context.Context, service, env string, from, to time.Time) ([]Change, error)

// Changes implements ChangeSource.
func (f ChangeFunc) Changes(ctx context.Context, service, env string, from, to time.Time) ([]Change, error) {
	return f(ctx, service, env, from, to)
}

var _ ChangeSource = ChangeFunc(nil)

// LogSearcher finds log lines; *logs.Logs implements it. Safe for
// concurrent use; honours ctx.
type LogSearcher interface {
	Search(ctx context.Context, q logs.Query) ([]logs.Line, error)
}

var _ LogSearcher = (*logs.Logs)(nil)

// Recorder hears of every change tug makes on its own, without an API
// call (automatic remediation), for the audit log; changes made through
// the API are audited by the API layer. Record is called once per action,
// after it ended, from the goroutine that ran it; it should not block
// long and honours ctx; an error is logged, never retried.
type Recorder interface {
	Record(ctx context.Context, a ActionRecord) error
}

// ActionRecord is one automatic action, as the Recorder hears of it.
type ActionRecord struct {
	Time        time.Time `json:"time"`
	Who         string    `json:"who"`
	Action      string    `json:"action"`
	Service     string    `json:"service"`
	Environment string    `json:"environment,omitempty"`
	Incident    int64     `json:"incident"`
	// Outcome is done, failed or skipped; Detail says what happened.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}
