// Package tugflags is an OpenFeature provider for Go apps deployed by tug:
// it evaluates flags against tug's proxy over OFREP, the OpenFeature
// remote evaluation protocol, with the official SDK in front of it.
//
//	p := tugflags.New(tugflags.Options{}) // $TUG_FLAGS_URL, $TUG_FLAGS_KEY
//	openfeature.SetProviderAndWait(p)
//	client := openfeature.NewDefaultClient()
//	on, _ := client.BooleanValue(ctx, "new-checkout", false,
//		openfeature.NewEvaluationContext(userID, map[string]any{"plan": plan}))
//
// The provider evaluates every flag at once for a context (the bulk
// endpoint) and answers from that cache; it polls the flag set with its
// ETag (If-None-Match: a 304 costs the proxy no evaluation) and, when the
// set changed, drops the cache and emits PROVIDER_CONFIGURATION_CHANGED,
// so a kill switch reaches the app within one poll interval.
package tugflags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/tugdev/tug/internal/flagset/wire"
)

// Options configure a Provider; the zero value reads the environment tug
// gives every instance.
type Options struct {
	// URL is the OFREP base URL. Default: $TUG_FLAGS_URL, else
	// $OFREP_ENDPOINT.
	URL string
	// Key is the client key, sent as Authorization: Bearer KEY. Default:
	// $TUG_FLAGS_KEY.
	Key string
	// PollInterval is how often the flag set is checked for changes.
	// Default 500ms: a check the set did not change is one 304.
	PollInterval time.Duration
	// MaxContexts bounds the cache: past it, the least recently used
	// context's answers are dropped. Default 1024.
	MaxContexts int
	// Client makes the requests. Default: a client with a 2s timeout.
	Client *http.Client
}

// Provider implements the OpenFeature provider interface over OFREP.
// Create it with New; it is safe for concurrent use.
type Provider struct {
	opts   Options
	events chan of.Event

	mu    sync.Mutex
	etag  string
	cache map[string]*entry // canonical JSON of a context -> its answers
	tick  uint64            // recency clock of the cache
	last  string            // the context polled with
	stop  context.CancelFunc
	done  chan struct{}
}

type entry struct {
	flags map[string]wire.Evaluation
	used  uint64
}

var (
	_ of.FeatureProvider = (*Provider)(nil)
	_ of.StateHandler    = (*Provider)(nil)
	_ of.EventHandler    = (*Provider)(nil)
)

// New returns a provider; the SDK calls Init when it is set.
func New(opts Options) *Provider {
	if opts.URL == "" {
		opts.URL = os.Getenv("TUG_FLAGS_URL")
	}
	if opts.URL == "" {
		opts.URL = os.Getenv("OFREP_ENDPOINT")
	}
	opts.URL = strings.TrimSuffix(opts.URL, "/")
	if opts.Key == "" {
		opts.Key = os.Getenv("TUG_FLAGS_KEY")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if opts.MaxContexts <= 0 {
		opts.MaxContexts = 1024
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 2 * time.Second}
	}
	return &Provider{opts: opts, events: make(chan of.Event, 16), cache: map[string]*entry{}}
}

// Metadata names the provider.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: "tug"} }

// Hooks are none.
func (p *Provider) Hooks() []of.Hook { return nil }

// EventChannel carries configuration changes and errors of the poll.
func (p *Provider) EventChannel() <-chan of.Event { return p.events }

// Init fetches every flag for the API's evaluation context and starts
// polling; an unreachable proxy or a refused key fails it.
func (p *Provider) Init(ec of.EvaluationContext) error {
	if p.opts.URL == "" {
		return errors.New("tugflags: no OFREP URL: set TUG_FLAGS_URL (tug sets it for its services) or Options.URL")
	}
	flat := flatten(ec)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.fetch(ctx, flat); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(context.Background())
	p.mu.Lock()
	p.stop, p.done = stop, make(chan struct{})
	p.mu.Unlock()
	go p.poll(pctx)
	return nil
}

// Shutdown stops polling.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func flatten(ec of.EvaluationContext) of.FlattenedContext {
	out := of.FlattenedContext{}
	for k, v := range ec.Attributes() {
		out[k] = v
	}
	if tk := ec.TargetingKey(); tk != "" {
		out[of.TargetingKey] = tk
	}
	return out
}

// poll asks for the flag set with the ETag it has; a new one replaces
// the cache.
func (p *Provider) poll(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.opts.PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		last, etag := p.last, p.etag
		p.mu.Unlock()
		var flat of.FlattenedContext
		_ = json.Unmarshal([]byte(last), &flat)
		changed, err := p.bulk(ctx, flat, last, etag)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				p.emit(of.Event{ProviderName: "tug", EventType: of.ProviderStale, ProviderEventDetails: of.ProviderEventDetails{Message: err.Error()}})
			}
			failing = true
		case err == nil && (changed || failing):
			failing = false
			p.emit(of.Event{ProviderName: "tug", EventType: of.ProviderConfigChange, ProviderEventDetails: of.ProviderEventDetails{Message: "the flag set changed"}})
		}
	}
}

func (p *Provider) emit(e of.Event) {
	select {
	case p.events <- e:
	default: // nobody reads: the next poll says it again
	}
}

// fetch returns the answers for flat, from the cache or the proxy.
func (p *Provider) fetch(ctx context.Context, flat of.FlattenedContext) (map[string]wire.Evaluation, error) {
	key, err := json.Marshal(flat)
	if err != nil {
		return nil, fmt.Errorf("tugflags: the evaluation context is not JSON: %w", err)
	}
	p.mu.Lock()
	if e := p.cache[string(key)]; e != nil {
		p.tick++
		e.used = p.tick
		p.mu.Unlock()
		return e.flags, nil
	}
	p.mu.Unlock()
	if _, err := p.bulk(ctx, flat, string(key), ""); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.cache[string(key)]; e != nil {
		return e.flags, nil
	}
	return nil, errors.New("tugflags: no answer cached")
}

// bulk evaluates every flag for flat (key is its canonical JSON). With
// etag set, a 304 changes nothing; changed says a new set replaced the
// cache.
func (p *Provider) bulk(ctx context.Context, flat of.FlattenedContext, key, etag string) (changed bool, err error) {
	body, err := json.Marshal(map[string]any{"context": flat})
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.URL+"/ofrep/v1/evaluate/flags", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.opts.Key != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.Key)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("tugflags: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return false, fmt.Errorf("tugflags: %w", err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		var e wire.Failure
		_ = json.Unmarshal(raw, &e)
		return false, fmt.Errorf("tugflags: %s: %s %s", resp.Status, e.ErrorCode, e.ErrorDetails)
	}
	var answer wire.Bulk
	if err := json.Unmarshal(raw, &answer); err != nil {
		return false, fmt.Errorf("tugflags: the answer is not OFREP's: %w", err)
	}
	flags := make(map[string]wire.Evaluation, len(answer.Flags))
	for _, f := range answer.Flags {
		flags[f.Key] = f
	}
	newTag := resp.Header.Get("ETag")
	p.mu.Lock()
	defer p.mu.Unlock()
	changed = newTag != p.etag && p.etag != ""
	if newTag != p.etag {
		// Every cached answer belongs to the old set.
		clear(p.cache)
		p.etag = newTag
	}
	if len(p.cache) >= p.opts.MaxContexts {
		p.evictLocked()
	}
	p.tick++
	p.cache[key] = &entry{flags: flags, used: p.tick}
	p.last = key
	return changed, nil
}

func (p *Provider) evictLocked() {
	oldest, at := "", uint64(math.MaxUint64)
	for k, e := range p.cache {
		if e.used < at {
			oldest, at = k, e.used
		}
	}
	delete(p.cache, oldest)
}

// resolve finds flag's answer for flatCtx; the detail carries the error
// when there is none.
func (p *Provider) resolve(ctx context.Context, flag string, flatCtx of.FlattenedContext) (wire.Evaluation, of.ProviderResolutionDetail, bool) {
	flags, err := p.fetch(ctx, flatCtx)
	if err != nil {
		return wire.Evaluation{}, failure(of.NewGeneralResolutionError(err.Error())), false
	}
	ev, ok := flags[flag]
	if !ok {
		return ev, failure(of.NewFlagNotFoundResolutionError("flag '" + flag + "' was not found")), false
	}
	if ev.ErrorCode != "" {
		return ev, failure(resolutionError(ev.ErrorCode, ev.ErrorDetails)), false
	}
	return ev, of.ProviderResolutionDetail{Reason: of.Reason(ev.Reason), Variant: ev.Variant, FlagMetadata: of.FlagMetadata(ev.Metadata)}, true
}

func failure(e of.ResolutionError) of.ProviderResolutionDetail {
	return of.ProviderResolutionDetail{ResolutionError: e, Reason: of.ErrorReason}
}

func resolutionError(code, details string) of.ResolutionError {
	switch code {
	case "FLAG_NOT_FOUND":
		return of.NewFlagNotFoundResolutionError(details)
	case "TARGETING_KEY_MISSING":
		return of.NewTargetingKeyMissingResolutionError(details)
	case "INVALID_CONTEXT":
		return of.NewInvalidContextResolutionError(details)
	case "PARSE_ERROR":
		return of.NewParseErrorResolutionError(details)
	case "TYPE_MISMATCH":
		return of.NewTypeMismatchResolutionError(details)
	}
	return of.NewGeneralResolutionError(code + ": " + details)
}

// value decodes ev's value into T; a missing value (OFREP's code default)
// keeps def, and a value of another type is TYPE_MISMATCH (OFREP carries
// no types: the provider is where a mismatch shows).
func value[T any](ctx context.Context, p *Provider, flag string, def T, flatCtx of.FlattenedContext, conv func(any) (T, bool)) of.GenericResolutionDetail[T] {
	ev, detail, ok := p.resolve(ctx, flag, flatCtx)
	if !ok {
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: detail}
	}
	if len(ev.Value) == 0 {
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: detail}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(ev.Value))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: failure(of.NewParseErrorResolutionError(err.Error()))}
	}
	out, ok := conv(v)
	if !ok {
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: failure(of.NewTypeMismatchResolutionError(
			fmt.Sprintf("flag '%s' is %s, not the type asked for", flag, ev.Value)))}
	}
	return of.GenericResolutionDetail[T]{Value: out, ProviderResolutionDetail: detail}
}

// BooleanEvaluation resolves a boolean flag.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flatCtx of.FlattenedContext) of.BoolResolutionDetail {
	return value(ctx, p, flag, def, flatCtx, func(v any) (bool, bool) { b, ok := v.(bool); return b, ok })
}

// StringEvaluation resolves a string flag.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flatCtx of.FlattenedContext) of.StringResolutionDetail {
	return value(ctx, p, flag, def, flatCtx, func(v any) (string, bool) { s, ok := v.(string); return s, ok })
}

// FloatEvaluation resolves a number flag.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flatCtx of.FlattenedContext) of.FloatResolutionDetail {
	return value(ctx, p, flag, def, flatCtx, func(v any) (float64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		f, err := n.Float64()
		return f, err == nil
	})
}

// IntEvaluation resolves a number flag whose value is whole.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flatCtx of.FlattenedContext) of.IntResolutionDetail {
	return value(ctx, p, flag, def, flatCtx, func(v any) (int64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		i, err := n.Int64()
		return i, err == nil
	})
}

// ObjectEvaluation resolves an object flag (as map[string]any, numbers
// as float64).
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flatCtx of.FlattenedContext) of.InterfaceResolutionDetail {
	ev, detail, ok := p.resolve(ctx, flag, flatCtx)
	if !ok || len(ev.Value) == 0 {
		return of.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: detail}
	}
	var v any
	if err := json.Unmarshal(ev.Value, &v); err != nil {
		return of.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: failure(of.NewParseErrorResolutionError(err.Error()))}
	}
	return of.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: detail}
}
