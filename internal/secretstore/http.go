package secretstore

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/secret"
)

// Parameters, bodies and answers of the secrets API. Values travel only
// in SetRequest, ImportRequest and RotateRequestBody (to the server) and
// in the reveal answer (from it).
type (
	// ListParams filter GET /api/secrets.
	ListParams struct {
		Env string `query:"env" doc:"only the secrets this environment sees: its own and the shared ones"`
	}
	// ListResponse is GET /api/secrets: names, versions, who and when.
	ListResponse struct {
		Secrets []Secret `json:"secrets"`
	}
	// NameParams name one secret.
	NameParams struct {
		Name string `path:"name" doc:"the secret's name"`
	}
	// RevealParams name the value to reveal.
	RevealParams struct {
		Name    string `path:"name" doc:"the secret's name"`
		Env     string `query:"env" doc:"the environment whose value to reveal (default: the shared one)"`
		Version int    `query:"version" doc:"the version (default: the current one)"`
		Who     string `query:"who" doc:"who asks, when the server has no identity of the caller"`
	}
	// RemoveParams name the value to remove.
	RemoveParams struct {
		Name string `path:"name" doc:"the secret's name"`
		Env  string `query:"env" doc:"the environment whose value to remove (default: the shared one)"`
		Who  string `query:"who" doc:"who asks, when the server has no identity of the caller"`
	}
	// SetRequest is PUT /api/secrets/{name}.
	SetRequest struct {
		Environment string `json:"environment,omitempty"`
		Value       string `json:"value"`
		Who         string `json:"who,omitempty"`
	}
	// ImportRequest is POST /api/secrets/import.
	ImportRequest struct {
		Environment string            `json:"environment,omitempty"`
		Values      map[string]string `json:"values"`
		Who         string            `json:"who,omitempty"`
	}
	// ImportResponse is what an import wrote.
	ImportResponse struct {
		Written []Written `json:"written"`
	}
	// RotateRequestBody is POST /api/secrets/{name}/rotate.
	RotateRequestBody struct {
		Environment string `json:"environment,omitempty"`
		Value       string `json:"value,omitempty"`
		Generate    bool   `json:"generate,omitempty"`
		Length      int    `json:"length,omitempty"`
		Who         string `json:"who,omitempty"`
	}
	// RotateLine is one line of the rotate answer: progress events, then
	// a last line with Done and the result.
	RotateLine struct {
		Event  *Event   `json:"event,omitempty"`
		Done   bool     `json:"done,omitempty"`
		Result *Rotated `json:"result,omitempty"`
	}
	// PruneRequest is POST /api/secrets/prune.
	PruneRequest struct {
		Keep int    `json:"keep"`
		Who  string `json:"who,omitempty"`
	}
	// KeyResponse is GET /api/secrets/key.
	KeyResponse struct {
		// Recipient is the server's public key, for secrets.recipients.
		Recipient string `json:"recipient"`
	}
)

// The secrets API's operations: all the admin's; revealing a value is
// audited like a change.
var (
	OpList = endpoint.Declare[ListParams, endpoint.None, ListResponse](http.MethodGet, "/api/secrets", endpoint.Admin,
		"Secrets in the store: names, environments, versions, who and when; never values.")
	OpSet = endpoint.Declare[NameParams, SetRequest, Written](http.MethodPut, "/api/secrets/{name}", endpoint.Admin,
		"Store a new version of a secret (for one environment, or shared); an unchanged value makes none.")
	OpReveal = endpoint.Declare[RevealParams, endpoint.None, Revealed](http.MethodGet, "/api/secrets/{name}/value", endpoint.Admin,
		"A secret's value (the current or a given version); every call is audited.").Audited()
	OpRemove = endpoint.Declare[RemoveParams, endpoint.None, Removed](http.MethodDelete, "/api/secrets/{name}", endpoint.Admin,
		"Remove a secret's value; its versions stay for the releases deployed with them until pruned.")
	OpImport = endpoint.Declare[endpoint.None, ImportRequest, ImportResponse](http.MethodPost, "/api/secrets/import", endpoint.Admin,
		"Store many values at once (a .env file's), in one change.")
	OpRotate = endpoint.Declare[NameParams, RotateRequestBody, RotateLine](http.MethodPost, "/api/secrets/{name}/rotate", endpoint.Admin,
		"Store a new value (given or generated) and roll every running service using it onto it with its deploy strategy; streams progress, then the result.")
	OpPrune = endpoint.Declare[endpoint.None, PruneRequest, Pruned](http.MethodPost, "/api/secrets/prune", endpoint.Admin,
		"Drop all but the newest versions of each secret, and removed secrets.")
	OpKey = endpoint.Declare[endpoint.None, endpoint.None, KeyResponse](http.MethodGet, "/api/secrets/key", endpoint.Viewer,
		"The server's public key (age1...), to list in secrets.recipients so its sealed files can be read.")
)

// ErrNoSecrets answers the secrets API of a server without a store.
var ErrNoSecrets = errors.New("this server keeps no secrets")

// Ops binds the secrets API to s; nil answers ErrNoSecrets.
func Ops(s *Service) []endpoint.Op {
	svc := func() (*Service, error) {
		if s == nil {
			return nil, ErrNoSecrets
		}
		return s, nil
	}
	return []endpoint.Op{
		OpList.JSON(func(ctx context.Context, p ListParams, _ endpoint.None) (ListResponse, error) {
			s, err := svc()
			if err != nil {
				return ListResponse{}, err
			}
			list, err := s.List(ctx, p.Env)
			if list == nil {
				list = []Secret{}
			}
			return ListResponse{Secrets: list}, err
		}),
		OpSet.JSON(func(ctx context.Context, p NameParams, b SetRequest) (Written, error) {
			s, err := svc()
			if err != nil {
				return Written{}, err
			}
			return s.Set(ctx, p.Name, b.Environment, secret.New(b.Value), b.Who)
		}),
		OpReveal.JSON(func(ctx context.Context, p RevealParams, _ endpoint.None) (Revealed, error) {
			s, err := svc()
			if err != nil {
				return Revealed{}, err
			}
			return s.Reveal(ctx, p.Name, p.Env, p.Version, p.Who)
		}),
		OpRemove.JSON(func(ctx context.Context, p RemoveParams, _ endpoint.None) (Removed, error) {
			s, err := svc()
			if err != nil {
				return Removed{}, err
			}
			return s.Remove(ctx, p.Name, p.Env, p.Who)
		}),
		OpImport.JSON(func(ctx context.Context, _ endpoint.None, b ImportRequest) (ImportResponse, error) {
			s, err := svc()
			if err != nil {
				return ImportResponse{}, err
			}
			vals := make(map[string]secret.Value, len(b.Values))
			for k, v := range b.Values {
				vals[k] = secret.New(v)
			}
			w, err := s.Import(ctx, b.Environment, vals, b.Who)
			return ImportResponse{Written: w}, err
		}),
		OpRotate.Stream(func(ctx context.Context, p NameParams, b RotateRequestBody, send func(RotateLine) error) error {
			s, err := svc()
			if err != nil {
				return err
			}
			// Rollouts go on after the client leaves (and after this
			// returns): closed stops their progress from reaching an
			// answer that is over.
			var mu sync.Mutex
			closed := false
			defer func() { mu.Lock(); closed = true; mu.Unlock() }()
			progress := func(e Event) {
				mu.Lock()
				defer mu.Unlock()
				if !closed && ctx.Err() == nil {
					_ = send(RotateLine{Event: &e})
				}
			}
			res, err := s.Rotate(ctx, RotateRequest{Name: p.Name, Environment: b.Environment, Value: secret.New(b.Value),
				Generate: b.Generate, Length: b.Length, Who: b.Who}, progress)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			return send(RotateLine{Done: true, Result: &res})
		}),
		OpPrune.JSON(func(ctx context.Context, _ endpoint.None, b PruneRequest) (Pruned, error) {
			s, err := svc()
			if err != nil {
				return Pruned{}, err
			}
			return s.Prune(ctx, b.Keep, b.Who)
		}),
		OpKey.JSON(func(context.Context, endpoint.None, endpoint.None) (KeyResponse, error) {
			s, err := svc()
			if err != nil {
				return KeyResponse{}, err
			}
			r, err := s.o.Store.Recipient()
			return KeyResponse{Recipient: r}, err
		}),
	}
}
