package secret

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrGone means a release asked for the version of a secret it was
// deployed with, and that version is no longer kept (pruned, or its
// source is no longer configured).
var ErrGone = errors.New("secret version no longer kept")

// The sources a Ref names.
const (
	FromStore = "store"
	FromVault = "vault"
	FromEnv   = "env"
	FromFile  = "file"
)

// Ref says where a secret's value came from and which version it was, so
// a release started again (a restart, a rollback) gets the same value.
// Sources without versions (the environment, the local file) have
// Version 0 and are read again.
type Ref struct {
	// Source is FromStore, FromVault, FromEnv or FromFile.
	Source string `json:"source"`
	// Scope is the environment the value was set for; "" is the value
	// every environment shares.
	Scope string `json:"scope,omitempty"`
	// Version is the source's version number of the value (1, 2, ...).
	Version int `json:"version,omitempty"`
}

// String is how the CLI shows a ref: "store v3 (production)", "env".
func (r Ref) String() string {
	s := r.Source
	if r.Version > 0 {
		s += " v" + strconv.Itoa(r.Version)
	}
	if r.Scope != "" {
		s += " (" + r.Scope + ")"
	}
	return s
}

// Resolved is one secret's value and where it came from.
type Resolved struct {
	Value Value
	Ref   Ref
}

// Source is one place secret values come from: the encrypted store, a
// Vault server, the environment, the local secrets file.
//
// Lookup returns the values the source holds among names for the
// environment env ("" when there is none, as for a pipeline run on a
// laptop); a name it does not hold is left out of the answer, which is no
// error. pinned gives, for some names, the Ref a release recorded: the
// source must answer that version (or fail with ErrGone), and is only
// asked for pinned names whose Ref.Source is its Kind. An error (a damaged
// store, a wrong key, an unreachable Vault) stops the resolution, since
// the value may be there. Lookup is safe for concurrent use and honours
// ctx.
type Source interface {
	Kind() string
	Lookup(ctx context.Context, env string, names []string, pinned map[string]Ref) (map[string]Resolved, error)
}

// Resolver finds every secret a service or a job asks for in one
// environment, with where each came from; missing names give one error
// naming them all and the environment, wrapping ErrMissing. pinned is as
// for Source.Lookup (nil for a new deploy). Safe for concurrent use.
type Resolver interface {
	Resolve(ctx context.Context, env string, names []string, pinned map[string]Ref) (map[string]Resolved, error)
}

// Chain is a Resolver that asks its sources in order: a name comes from
// the first source that holds it.
type Chain []Source

var _ Resolver = Chain(nil)

// Resolve implements Resolver.
func (c Chain) Resolve(ctx context.Context, env string, names []string, pinned map[string]Ref) (map[string]Resolved, error) {
	want := slices.Compact(slices.Sorted(slices.Values(names)))
	out := make(map[string]Resolved, len(want))
	for _, src := range c {
		var ask []string
		var pins map[string]Ref
		for _, n := range want {
			if _, done := out[n]; done {
				continue
			}
			if ref, ok := pinned[n]; ok && ref.Source != "" {
				if ref.Source != src.Kind() {
					continue
				}
				if pins == nil {
					pins = map[string]Ref{}
				}
				pins[n] = ref
			}
			ask = append(ask, n)
		}
		if len(ask) == 0 {
			continue
		}
		got, err := src.Lookup(ctx, env, ask, pins)
		if err != nil {
			return nil, err
		}
		for _, n := range ask {
			if r, ok := got[n]; ok {
				out[n] = r
			}
		}
	}
	var missing, gone []string
	for _, n := range want {
		if _, ok := out[n]; ok {
			continue
		}
		if ref, ok := pinned[n]; ok && ref.Version > 0 {
			gone = append(gone, n+" "+ref.String())
			continue
		}
		missing = append(missing, n)
	}
	if len(gone) > 0 {
		return nil, fmt.Errorf("%w: %s (the release was deployed with these versions; deploy again to take the current ones)", ErrGone, strings.Join(gone, ", "))
	}
	if len(missing) > 0 {
		return nil, MissingError(env, missing)
	}
	return out, nil
}

// MissingError is the one error for secrets found nowhere: it names
// them, the environment, and where they can be set.
func MissingError(env string, names []string) error {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if env == "" {
		return fmt.Errorf("%w: %s (set them with `tug secret set NAME`, in the environment or in %s)", ErrMissing, strings.Join(names, ", "), LocalFile)
	}
	return fmt.Errorf("%w in environment %q: %s (set them with `tug secret set NAME --env %s`, in the environment or in %s)",
		ErrMissing, env, strings.Join(names, ", "), env, LocalFile)
}

// Values drops the refs of resolved secrets.
func Values(r map[string]Resolved) map[string]Value {
	if r == nil {
		return nil
	}
	out := make(map[string]Value, len(r))
	for k, v := range r {
		out[k] = v.Value
	}
	return out
}

// Refs keeps only the refs of resolved secrets: what a release records.
func Refs(r map[string]Resolved) map[string]Ref {
	if len(r) == 0 {
		return nil
	}
	out := make(map[string]Ref, len(r))
	for k, v := range r {
		out[k] = v.Ref
	}
	return out
}

// Env is the process environment as a Source (lookup is os.LookupEnv or
// a test's map).
type Env func(string) (string, bool)

var _ Source = Env(nil)

// Kind implements Source.
func (Env) Kind() string { return FromEnv }

// Lookup implements Source; the environment has no versions.
func (e Env) Lookup(_ context.Context, _ string, names []string, _ map[string]Ref) (map[string]Resolved, error) {
	out := map[string]Resolved{}
	if e == nil {
		return out, nil
	}
	for _, n := range names {
		if v, ok := e(n); ok {
			out[n] = Resolved{Value: New(v), Ref: Ref{Source: FromEnv}}
		}
	}
	return out, nil
}

// File is the repository's local secrets file (LocalFile under Dir, KEY=
// VALUE lines) as a Source. Warn, when set, is told once when the file is
// tracked by git.
type File struct {
	Dir  string
	Warn func(string)

	once sync.Once
}

var _ Source = (*File)(nil)

// Kind implements Source.
func (*File) Kind() string { return FromFile }

// Lookup implements Source; the file has no versions. A file that does
// not parse is an error wrapping ErrBadFile.
func (f *File) Lookup(_ context.Context, _ string, names []string, _ map[string]Ref) (map[string]Resolved, error) {
	vals, err := readFile(filepath.Join(f.Dir, LocalFile))
	if err != nil {
		return nil, err
	}
	out := map[string]Resolved{}
	if vals == nil {
		return out, nil
	}
	f.once.Do(func() {
		if f.Warn != nil && trackedByGit(f.Dir) {
			f.Warn(LocalFile + " is tracked by git: its secrets are in the repository history; run `git rm --cached " + LocalFile + "`, add it to .gitignore and rotate the secrets")
		}
	})
	for _, n := range names {
		if v, ok := vals[n]; ok {
			out[n] = Resolved{Value: New(v), Ref: Ref{Source: FromFile}}
		}
	}
	return out, nil
}
