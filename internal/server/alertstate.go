package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/store"
)

// alertState adapts the store to alert.State, for the server's alert
// engine: silences, acks and the notification history survive restarts.
type alertState struct{ st *store.Store }

var _ alert.State = alertState{}

// NewAlertState wraps st.
func NewAlertState(st *store.Store) alert.State { return alertState{st: st} }

func (s alertState) SaveSilence(ctx context.Context, v alert.Silence) error {
	return s.st.SaveAlertSilence(ctx, store.AlertSilence{ID: v.ID, Matchers: v.Matchers, StartsAt: v.StartsAt,
		EndsAt: v.EndsAt, CreatedBy: v.CreatedBy, Comment: v.Comment})
}

func (s alertState) Silences(ctx context.Context) ([]alert.Silence, error) {
	rows, err := s.st.AlertSilences(ctx)
	out := make([]alert.Silence, 0, len(rows))
	for _, r := range rows {
		out = append(out, alert.Silence{ID: r.ID, Matchers: r.Matchers, StartsAt: r.StartsAt, EndsAt: r.EndsAt,
			CreatedBy: r.CreatedBy, Comment: r.Comment})
	}
	return out, err
}

func (s alertState) SaveAck(ctx context.Context, v alert.Ack) error {
	return s.st.SaveAlertAck(ctx, store.AlertAck{Fingerprint: v.Fingerprint, AlertName: v.AlertName,
		StartsAt: v.StartsAt, By: v.By, Comment: v.Comment, At: v.At})
}

func (s alertState) DeleteAck(ctx context.Context, fp string) error {
	return s.st.DeleteAlertAck(ctx, fp)
}

func (s alertState) Acks(ctx context.Context) ([]alert.Ack, error) {
	rows, err := s.st.AlertAcks(ctx)
	out := make([]alert.Ack, 0, len(rows))
	for _, r := range rows {
		out = append(out, alert.Ack{Fingerprint: r.Fingerprint, AlertName: r.AlertName, StartsAt: r.StartsAt,
			By: r.By, Comment: r.Comment, At: r.At})
	}
	return out, err
}

func (s alertState) AddNotification(ctx context.Context, n alert.Notification) (int64, error) {
	b, err := json.Marshal(n.Alerts)
	if err != nil {
		return 0, err
	}
	return s.st.AddAlertNotification(ctx, store.AlertNotification{At: n.At, Channel: n.Channel, Kind: n.Kind,
		GroupKey: n.GroupKey, Status: n.Status, Outcome: n.Outcome, Attempts: n.Attempts, Error: n.Error, Alerts: string(b)})
}

func (s alertState) Notifications(ctx context.Context, limit int) ([]alert.Notification, error) {
	rows, err := s.st.AlertNotifications(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]alert.Notification, 0, len(rows))
	for _, r := range rows {
		n := alert.Notification{ID: r.ID, At: r.At, Channel: r.Channel, Kind: r.Kind, GroupKey: r.GroupKey,
			Status: r.Status, Outcome: r.Outcome, Attempts: r.Attempts, Error: r.Error}
		if err := json.Unmarshal([]byte(r.Alerts), &n.Alerts); err != nil {
			return nil, fmt.Errorf("notification %d: bad alerts JSON: %w", r.ID, err)
		}
		out = append(out, n)
	}
	return out, nil
}
