package flags

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/store"
)

// defaultMaxErrorRate halts a ramp whose max_error_rate is not set.
const defaultMaxErrorRate = 0.05

// rampState is how far a ramp got, kept in the store so a restarted
// server carries on where it was.
type rampState struct {
	// Hash is of the ramp's config: a change starts it over.
	Hash string `json:"hash"`
	// Step is the index of the step in force since Since.
	Step  int       `json:"step"`
	Since time.Time `json:"since"`
	// Halted says the error rate rose above the limit, and Reason how.
	Halted bool   `json:"halted,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RampInfo is a ramp as `tug flags ls` shows it.
type RampInfo struct {
	Variant string    `json:"variant"`
	Step    int       `json:"step"` // 1-based
	Steps   int       `json:"steps"`
	Weight  int       `json:"weight"`
	Since   time.Time `json:"since"`
	// Next is when the next step is due (zero at the last step or when
	// halted or overridden).
	Next   time.Time `json:"next,omitzero"`
	Halted bool      `json:"halted,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

func rampHash(f *config.Flag, env string) string {
	fenv := f.Environments[env]
	def := f.Default
	if fenv.Default != "" {
		def = fenv.Default
	}
	b, _ := json.Marshal(struct {
		R       *config.FlagRamp
		Variant string
		Default string
	}{fenv.Ramp, rampVariant(f, fenv.Ramp), def})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

func (m *Manager) rampInfoLocked(name string, f *config.Flag, env string) *RampInfo {
	r := f.Environments[env].Ramp
	info := &RampInfo{Variant: rampVariant(f, r), Step: 1, Steps: len(r.Steps)}
	st := m.ramps[fe{name, env}]
	if st != nil && st.Hash == rampHash(f, env) {
		info.Step, info.Since, info.Halted, info.Reason = st.Step+1, st.Since, st.Halted, st.Reason
		if !st.Halted && st.Step < len(r.Steps)-1 && m.overrides[fe{name, env}] == nil {
			info.Next = st.Since.Add(r.Steps[st.Step].Pause.D())
		}
	}
	info.Weight = r.Steps[info.Step-1].Weight
	return info
}

// ramp steps every ramp that is due and halts every ramp whose services'
// error rate is above its limit.
func (m *Manager) ramp(ctx context.Context) error {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	return m.rampLocked(ctx)
}

// rampLocked is ramp with m.changeMu held.
func (m *Manager) rampLocked(ctx context.Context) error {
	type todo struct {
		key      fe
		f        *config.Flag
		ramp     *config.FlagRamp
		state    rampState
		fresh    bool
		services []string
	}
	now := m.now()
	var list []todo
	m.mu.Lock()
	c := m.cfg
	if c == nil {
		m.mu.Unlock()
		return nil
	}
	live := map[fe]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.Flags)) {
		f := c.Flags[name]
		for _, env := range slices.Sorted(maps.Keys(f.Environments)) {
			fenv := f.Environments[env]
			if fenv == nil || fenv.Ramp == nil || len(fenv.Ramp.Steps) == 0 {
				continue
			}
			k := fe{name, env}
			live[k] = true
			t := todo{key: k, f: f, ramp: fenv.Ramp, services: servicesOf(c, f)}
			h := rampHash(f, env)
			if st := m.ramps[k]; st != nil && st.Hash == h {
				if st.Halted || m.overrides[k] != nil {
					continue // halted for good, or paused while overridden
				}
				t.state = *st
			} else {
				t.state, t.fresh = rampState{Hash: h, Since: now}, true
			}
			list = append(list, t)
		}
	}
	var gone []fe
	for k := range m.ramps {
		if !live[k] {
			gone = append(gone, k)
		}
	}
	m.mu.Unlock()

	changed := false
	for _, k := range gone {
		if err := m.opts.Store.ChangeFlag(ctx, kindRamp, nil, &store.FlagChange{Flag: k.flag, Environment: k.env}); err != nil {
			return err
		}
		m.mu.Lock()
		delete(m.ramps, k)
		m.mu.Unlock()
	}
	for _, t := range list {
		st, kind, reason := t.state, "", ""
		steps := t.ramp.Steps
		variant := rampVariant(t.f, t.ramp)
		switch {
		case t.fresh:
			kind, reason = ChangeRamp, fmt.Sprintf("ramp started: step 1 of %d, %s at %d%%", len(steps), variant, steps[0].Weight)
		default:
			if rate, ok := m.errorRate(ctx, t.services, t.key.env); ok {
				limit := t.ramp.MaxErrorRate
				if limit == 0 {
					limit = defaultMaxErrorRate
				}
				if rate > limit {
					st.Halted = true
					kind, reason = ChangeHalt, fmt.Sprintf("ramp halted at step %d of %d (%s at %d%%): the error rate of %s is %.4f, above %g",
						st.Step+1, len(steps), variant, steps[st.Step].Weight, strings.Join(t.services, ", "), rate, limit)
					break
				}
			}
			if st.Step < len(steps)-1 && !now.Before(st.Since.Add(steps[st.Step].Pause.D())) {
				st.Step++
				st.Since = now
				kind, reason = ChangeRamp, fmt.Sprintf("ramp step %d of %d: %s at %d%%", st.Step+1, len(steps), variant, steps[st.Step].Weight)
			}
		}
		if kind == "" {
			continue
		}
		st.Reason = reason
		m.mu.Lock()
		before := describe(m.set.Environments[t.key.env].Flags[t.key.flag])
		prev, had := m.ramps[t.key]
		m.ramps[t.key] = &st
		after := describe(applyOverride(m.desiredLocked(t.key.flag, t.f, t.key.env), m.overrides[t.key]))
		if had {
			m.ramps[t.key] = prev
		} else {
			delete(m.ramps, t.key)
		}
		m.mu.Unlock()
		data, _ := json.Marshal(st)
		ch := &store.FlagChange{Flag: t.key.flag, Environment: t.key.env, Services: t.services, Kind: kind, Who: "tug", Before: before, After: after, Reason: reason}
		if err := m.opts.Store.ChangeFlag(ctx, kindRamp, data, ch); err != nil {
			return err
		}
		m.mu.Lock()
		m.ramps[t.key] = &st
		m.set = m.resolveLocked()
		m.mu.Unlock()
		m.log.Info("flag ramp", "flag", t.key.flag, "environment", t.key.env, "kind", kind, "reason", reason)
		if m.opts.Audit != nil {
			rec := audit.Record{Time: now, Actor: "tug", Action: "flag." + kind, Target: t.key.flag + "/" + t.key.env, Outcome: audit.OK, Detail: reason}
			if err := m.opts.Audit.Record(context.WithoutCancel(ctx), rec); err != nil {
				m.log.Error("audit: recording a flag ramp", "flag", t.key.flag, "environment", t.key.env, "err", err)
			}
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return m.push(ctx)
}

var labelValue = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// errorRate is the share of 5xx answers the services gave in env over
// the last minute, from the proxy's counters; ok is false when it cannot
// be told (no traffic, no metrics).
func (m *Manager) errorRate(ctx context.Context, services []string, env string) (float64, bool) {
	if m.opts.Query == nil || len(services) == 0 {
		return 0, false
	}
	for _, s := range append([]string{env}, services...) {
		if !labelValue.MatchString(s) {
			return 0, false
		}
	}
	sel := fmt.Sprintf(`service=~"%s",environment="%s"`, strings.Join(services, "|"), env)
	expr := fmt.Sprintf(`sum(rate(tug_proxy_requests_total{%s,code=~"5.."}[1m])) / sum(rate(tug_proxy_requests_total{%s}[1m]))`, sel, sel)
	v, err := m.opts.Query(ctx, expr)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			m.log.Debug("flags: ramp error rate", "expr", expr, "err", err)
		}
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
