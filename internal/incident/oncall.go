package incident

import (
	"errors"
	"slices"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Shift is a stretch of time one person is on call for a rotation.
type Shift struct {
	Who   string    `json:"who"`
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// Override says someone stands in for the rotation.
	Override bool `json:"override,omitempty"`
}

// Oncall is who a rotation has on call now and next.
type Oncall struct {
	Rotation string `json:"rotation"`
	Now      Shift  `json:"now"`
	Next     Shift  `json:"next"`
}

// rotationEpoch is where every rotation's count of shifts starts: the
// shift that begins at the first handoff on or after it is the first
// person's.
var rotationEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// OncallAt lists who every rotation of c has on call at t and next, by
// rotation name.
func OncallAt(c *config.Config, t time.Time) ([]Oncall, error) {
	var out []Oncall
	names := make([]string, 0, len(c.Oncall))
	for name := range c.Oncall {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		now, next, err := Shifts(c.Oncall[name], t)
		if err != nil {
			return nil, err
		}
		out = append(out, Oncall{Rotation: name, Now: now, Next: next})
	}
	return out, nil
}

// Shifts are the shift of r at t and the one after it, overrides
// applied.
func Shifts(r *config.Rotation, t time.Time) (now, next Shift, err error) {
	if now, err = shiftAt(r, t); err != nil {
		return
	}
	next, err = shiftAt(r, now.Until)
	return
}

func shiftAt(r *config.Rotation, t time.Time) (Shift, error) {
	if r == nil || len(r.Rotation) == 0 {
		return Shift{}, errors.New("the rotation names nobody")
	}
	h, err := config.ParseHandoff(r.Handoff)
	if err != nil {
		return Shift{}, err
	}
	loc, err := r.Location()
	if err != nil {
		return Shift{}, err
	}
	for _, o := range r.Overrides {
		from, ferr := config.ParseOncallTime(o.From, loc)
		until, uerr := config.ParseOncallTime(o.Until, loc)
		if ferr == nil && uerr == nil && !t.Before(from) && t.Before(until) {
			return Shift{Who: o.Who, From: from, Until: until, Override: true}, nil
		}
	}
	days := 7
	if h.Daily {
		days = 1
	}
	local := t.In(loc)
	start := time.Date(local.Year(), local.Month(), local.Day(), h.Hour, h.Minute, 0, 0, loc)
	if !h.Daily {
		start = start.AddDate(0, 0, -((int(start.Weekday()) - int(h.Weekday) + 7) % 7))
	}
	if start.After(t) {
		start = start.AddDate(0, 0, -days)
	}
	n := civilDays(start) - civilDays(rotationEpoch)
	idx := ((n/days)%len(r.Rotation) + len(r.Rotation)) % len(r.Rotation)
	s := Shift{Who: r.Rotation[idx], From: start, Until: start.AddDate(0, 0, days)}
	// An override starting during the shift ends it early.
	for _, o := range r.Overrides {
		from, ferr := config.ParseOncallTime(o.From, loc)
		if ferr == nil && from.After(t) && from.Before(s.Until) {
			s.Until = from
		}
	}
	return s, nil
}

// civilDays counts calendar days since 1970-01-01 of t's date in its own
// zone, so daylight saving time never shifts a handoff.
func civilDays(t time.Time) int {
	return int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}
