package alert

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Silence mutes the alerts its matchers select between StartsAt and EndsAt.
type Silence struct {
	ID string `json:"id"`
	// Matchers as ParseMatchers reads them.
	Matchers  string    `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	// Status is active, pending or expired at the time it was read.
	Status string `json:"status,omitempty"`
}

// Ack acknowledges one firing alert: its repeats stop until it resolves or
// fires again (a new StartsAt).
type Ack struct {
	Fingerprint string    `json:"id"`
	AlertName   string    `json:"alertname"`
	StartsAt    time.Time `json:"starts_at"`
	By          string    `json:"by,omitempty"`
	Comment     string    `json:"comment,omitempty"`
	At          time.Time `json:"at"`
}

// Notification is one message handed to a channel, with its outcome.
type Notification struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Channel  string    `json:"channel"`
	Kind     string    `json:"kind"`
	GroupKey string    `json:"group_key"`
	// Status is the message's: firing or resolved.
	Status string `json:"status"`
	// Outcome is sent or failed (after every retry).
	Outcome  string          `json:"outcome"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error,omitempty"`
	Alerts   []NotifiedAlert `json:"alerts"`
}

// NotifiedAlert is an alert as it was in a notification.
type NotifiedAlert struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Severity string `json:"severity,omitempty"`
}

// Outcomes of a notification.
const (
	OutcomeSent   = "sent"
	OutcomeFailed = "failed"
)

// State keeps silences, acknowledgements and the notification history
// across restarts. The engine reads silences and acks once in New and
// writes through on every change, from several goroutines: implementations
// must be safe for concurrent use and honour ctx. A write that fails is
// reported to the caller and the change is not applied.
type State interface {
	// SaveSilence inserts s or replaces the silence with its ID.
	SaveSilence(ctx context.Context, s Silence) error
	// Silences lists every silence, expired ones included.
	Silences(ctx context.Context) ([]Silence, error)
	// SaveAck inserts a or replaces the ack of its fingerprint.
	SaveAck(ctx context.Context, a Ack) error
	// DeleteAck removes the ack of a fingerprint; absent is not an error.
	DeleteAck(ctx context.Context, fingerprint string) error
	// Acks lists every ack.
	Acks(ctx context.Context) ([]Ack, error)
	// AddNotification appends n and returns its ID.
	AddNotification(ctx context.Context, n Notification) (int64, error)
	// Notifications lists the newest limit notifications, newest first
	// (all when limit <= 0).
	Notifications(ctx context.Context, limit int) ([]Notification, error)
}

// MemoryState is a State that forgets on exit, for tests and for a tug
// without a state directory.
type MemoryState struct {
	mu       sync.Mutex
	silences []Silence
	acks     map[string]Ack
	notes    []Notification
}

var _ State = (*MemoryState)(nil)

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{acks: map[string]Ack{}} }

// SaveSilence implements State.
func (m *MemoryState) SaveSilence(_ context.Context, s Silence) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.silences {
		if m.silences[i].ID == s.ID {
			m.silences[i] = s
			return nil
		}
	}
	m.silences = append(m.silences, s)
	return nil
}

// Silences implements State.
func (m *MemoryState) Silences(context.Context) ([]Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.silences), nil
}

// SaveAck implements State.
func (m *MemoryState) SaveAck(_ context.Context, a Ack) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acks[a.Fingerprint] = a
	return nil
}

// DeleteAck implements State.
func (m *MemoryState) DeleteAck(_ context.Context, fp string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.acks, fp)
	return nil
}

// Acks implements State.
func (m *MemoryState) Acks(context.Context) ([]Ack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Ack, 0, len(m.acks))
	for _, a := range m.acks {
		out = append(out, a)
	}
	return out, nil
}

// AddNotification implements State.
func (m *MemoryState) AddNotification(_ context.Context, n Notification) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.ID = int64(len(m.notes) + 1)
	m.notes = append(m.notes, n)
	return n.ID, nil
}

// Notifications implements State.
func (m *MemoryState) Notifications(_ context.Context, limit int) ([]Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.notes)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
