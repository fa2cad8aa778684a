package alert

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes counted by tug_notifications_total, one per delivery attempt.
const (
	attemptSuccess = "success"
	attemptFailure = "failure"
)

// notificationCounter registers tug_notifications_total, reusing one
// already registered (a reloaded engine).
func notificationCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tug_notifications_total",
		Help: "Notification delivery attempts, by channel and outcome (success or failure).",
	}, []string{"channel", "outcome"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return old
			}
		}
	}
	return c
}

// deliver sends m, retrying failures with exponential backoff; it returns
// the number of attempts and the last error.
func (e *Engine) deliver(ctx context.Context, nc *namedChannel, m *Message) (int, error) {
	backoff := e.retryBase
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, e.sendTimeout)
		err := nc.ch.Send(actx, m)
		cancel()
		if err == nil {
			e.sent.WithLabelValues(nc.name, attemptSuccess).Inc()
			return attempt, nil
		}
		e.sent.WithLabelValues(nc.name, attemptFailure).Inc()
		if errors.Is(err, ErrPermanent) || attempt >= e.attempts || ctx.Err() != nil {
			return attempt, err
		}
		e.log.Debug("notification failed; retrying", "channel", nc.name, "attempt", attempt, "backoff", backoff, "err", err)
		if serr := e.sleep(ctx, backoff); serr != nil {
			return attempt, err
		}
		backoff = min(backoff*2, e.retryMax)
	}
}
