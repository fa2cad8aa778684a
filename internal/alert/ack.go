package alert

import (
	"context"
	"fmt"
	"strings"
)

// AckRequest acknowledges a firing alert.
type AckRequest struct {
	By      string `json:"by,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Acknowledge stops the repeats of a firing alert until it resolves or
// fires again. id is the alert's ID or a unique prefix of it.
func (e *Engine) Acknowledge(ctx context.Context, id string, req AckRequest) (Ack, error) {
	e.mu.Lock()
	a, err := e.findFiring(id)
	if err != nil {
		e.mu.Unlock()
		return Ack{}, err
	}
	ack := Ack{Fingerprint: a.ID, AlertName: a.Name, StartsAt: a.StartsAt, By: req.By, Comment: req.Comment, At: e.now().UTC()}
	e.mu.Unlock()
	if err := e.state.SaveAck(ctx, ack); err != nil {
		return Ack{}, fmt.Errorf("save ack: %w", err)
	}
	e.mu.Lock()
	e.acks[ack.Fingerprint] = ack
	e.mu.Unlock()
	e.log.Info("alert acknowledged", "id", ack.Fingerprint, "alertname", ack.AlertName, "by", ack.By)
	return ack, nil
}

// findFiring resolves an alert ID or unique prefix to a firing alert;
// e.mu is held.
func (e *Engine) findFiring(id string) (*Alert, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty alert ID", ErrInvalid)
	}
	var found *Alert
	for k, a := range e.alerts {
		if k == id {
			found = a
			break
		}
		if strings.HasPrefix(k, id) {
			if found != nil {
				return nil, fmt.Errorf("%w: alert ID %q is ambiguous", ErrInvalid, id)
			}
			found = a
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: alert %q", ErrNotFound, id)
	}
	if found.State != StateFiring {
		return nil, fmt.Errorf("%w: alert %s (%s) is %s, not firing", ErrInvalid, found.ID, found.Name, found.State)
	}
	return found, nil
}

// acked says whether a's current firing episode is acknowledged; e.mu is
// held.
func (e *Engine) acked(a *Alert) bool {
	ack, ok := e.acks[a.ID]
	return ok && a.State == StateFiring && ack.StartsAt.Equal(a.StartsAt)
}
