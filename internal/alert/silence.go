package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// Silence statuses.
const (
	SilenceActive  = "active"
	SilencePending = "pending"
	SilenceExpired = "expired"
)

// silence is a Silence with its matchers parsed.
type silence struct {
	Silence
	matchers Matchers
}

func (s *silence) status(now time.Time) string {
	switch {
	case !now.Before(s.EndsAt):
		return SilenceExpired
	case now.Before(s.StartsAt):
		return SilencePending
	}
	return SilenceActive
}

// SilenceRequest asks for a new silence.
type SilenceRequest struct {
	// Matchers as ParseMatchers reads them.
	Matchers string `json:"matchers"`
	// Duration is how long it lasts from now ("2h").
	Duration string `json:"duration"`
	Comment  string `json:"comment,omitempty"`
	By       string `json:"created_by,omitempty"`
}

// AddSilence mutes the alerts matchers select from now for d. The silence
// is stored before it takes effect.
func (e *Engine) AddSilence(ctx context.Context, req SilenceRequest) (Silence, error) {
	ms, err := ParseMatchers(req.Matchers)
	if err != nil {
		return Silence{}, err
	}
	d, err := parseDuration(req.Duration)
	if err != nil {
		return Silence{}, err
	}
	if d <= 0 {
		return Silence{}, fmt.Errorf("%w: duration must be positive, got %q", ErrInvalid, req.Duration)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Silence{}, err
	}
	now := e.now().UTC()
	s := &silence{Silence: Silence{
		ID:        hex.EncodeToString(id[:]),
		Matchers:  ms.String(),
		StartsAt:  now,
		EndsAt:    now.Add(d),
		CreatedBy: req.By,
		Comment:   req.Comment,
	}, matchers: ms}
	if err := e.state.SaveSilence(ctx, s.Silence); err != nil {
		return Silence{}, fmt.Errorf("save silence: %w", err)
	}
	e.mu.Lock()
	e.silences[s.ID] = s
	e.mu.Unlock()
	e.log.Info("silence added", "id", s.ID, "matchers", s.Matchers, "ends_at", s.EndsAt, "by", s.CreatedBy)
	out := s.Silence
	out.Status = s.status(now)
	return out, nil
}

// ExpireSilence ends a silence now. IDs may be abbreviated to a unique
// prefix.
func (e *Engine) ExpireSilence(ctx context.Context, id string) (Silence, error) {
	now := e.now().UTC()
	e.mu.Lock()
	s, err := e.findSilence(id)
	if err != nil {
		e.mu.Unlock()
		return Silence{}, err
	}
	upd := s.Silence
	if now.Before(upd.EndsAt) {
		upd.EndsAt = now
	}
	if upd.StartsAt.After(upd.EndsAt) {
		upd.StartsAt = upd.EndsAt
	}
	e.mu.Unlock()
	if err := e.state.SaveSilence(ctx, upd); err != nil {
		return Silence{}, fmt.Errorf("save silence: %w", err)
	}
	e.mu.Lock()
	s.Silence = upd
	e.mu.Unlock()
	e.log.Info("silence expired", "id", upd.ID)
	upd.Status = SilenceExpired
	return upd, nil
}

// findSilence resolves an ID or unique ID prefix; e.mu is held.
func (e *Engine) findSilence(id string) (*silence, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty silence ID", ErrInvalid)
	}
	if s, ok := e.silences[id]; ok {
		return s, nil
	}
	var found *silence
	for k, s := range e.silences {
		if strings.HasPrefix(k, id) {
			if found != nil {
				return nil, fmt.Errorf("%w: silence ID %q is ambiguous", ErrInvalid, id)
			}
			found = s
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: silence %q", ErrNotFound, id)
	}
	return found, nil
}

// Silences lists every silence with its status now, active ones first,
// then by end time.
func (e *Engine) Silences() []Silence {
	now := e.now()
	e.mu.Lock()
	out := make([]Silence, 0, len(e.silences))
	for _, s := range e.silences {
		c := s.Silence
		c.Status = s.status(now)
		out = append(out, c)
	}
	e.mu.Unlock()
	rank := map[string]int{SilenceActive: 0, SilencePending: 1, SilenceExpired: 2}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Status != out[j].Status {
			return rank[out[i].Status] < rank[out[j].Status]
		}
		if !out[i].EndsAt.Equal(out[j].EndsAt) {
			return out[i].EndsAt.After(out[j].EndsAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// silencedBy lists the active silences muting lbls; e.mu is held.
func (e *Engine) silencedBy(lbls map[string]string, now time.Time) []string {
	var ids []string
	for _, s := range e.silences {
		if s.status(now) == SilenceActive && s.matchers.Matches(lbls) {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// parseDuration reads a silence's length in the one duration syntax
// (kit.ParseDuration), as tug.yaml and `tug silence add --for` read it.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: missing duration (e.g. 2h)", ErrInvalid)
	}
	d, err := kit.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return d, nil
}
