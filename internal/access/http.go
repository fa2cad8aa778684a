package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
)

// Requests and answers of the tokens API.
type (
	// CreateRequest is the body of POST /api/tokens.
	CreateRequest struct {
		Name string        `json:"name"`
		Role endpoint.Role `json:"role"`
		// Expires is how long the token is valid (30d, 12h); empty: until
		// revoked.
		Expires string `json:"expires,omitempty"`
	}
	// Created is the answer of POST /api/tokens: the token's record and,
	// this once, the token itself.
	Created struct {
		Token Listed `json:"token"`
		// Value is the token to send as Authorization: Bearer VALUE. tug
		// keeps only its hash and never shows it again.
		Value string `json:"value"`
	}
	// Listed is a token with its state.
	Listed struct {
		Token
		State string `json:"state"` // active, expired or revoked
	}
	// TokensResponse is GET /api/tokens.
	TokensResponse struct {
		Tokens []Listed `json:"tokens"`
	}
	// RevokedResponse is DELETE /api/tokens/{name}.
	RevokedResponse struct {
		Token Listed `json:"token"`
	}
	// NameParams name a token.
	NameParams struct {
		Name string `path:"name" doc:"the token's name"`
	}
)

// The tokens API's operations: all the admin's.
var (
	OpCreateToken = endpoint.Declare[endpoint.None, CreateRequest, Created](http.MethodPost, "/api/tokens", endpoint.Admin,
		"Make an API token with a role (viewer, deployer, admin) and an optional expiry; the answer holds the token, shown this once.")
	OpTokens = endpoint.Declare[endpoint.None, endpoint.None, TokensResponse](http.MethodGet, "/api/tokens", endpoint.Admin,
		"Every API token (never the token itself): name, role, who made it and when, expiry, state.")
	OpRevokeToken = endpoint.Declare[NameParams, endpoint.None, RevokedResponse](http.MethodDelete, "/api/tokens/{name}", endpoint.Admin,
		"Revoke the active token of that name: requests presenting it are refused from now on.")
)

// ErrNoTokens answers the tokens API of a server that keeps none.
var ErrNoTokens = errors.New("this server keeps no API tokens")

// Ops binds the tokens API to t (nil answers ErrNoTokens). The caller's
// identity (IdentityOf the request's context) is recorded as who made or
// revoked a token.
func Ops(t *Tokens) []endpoint.Op {
	store := func() (*Tokens, error) {
		if t == nil {
			return nil, ErrNoTokens
		}
		return t, nil
	}
	return []endpoint.Op{
		OpCreateToken.JSON(func(ctx context.Context, _ endpoint.None, req CreateRequest) (Created, error) {
			s, err := store()
			if err != nil {
				return Created{}, err
			}
			audit.SetTarget(ctx, req.Name)
			var ttl time.Duration
			if req.Expires != "" {
				if ttl, err = kit.ParseDuration(req.Expires); err != nil {
					return Created{}, fmt.Errorf("%w: expires: %v", ErrInvalid, err)
				}
				if ttl <= 0 {
					return Created{}, fmt.Errorf("%w: expires: want a positive duration, got %s", ErrInvalid, req.Expires)
				}
			}
			tok, value, err := s.Create(req.Name, req.Role, ttl, actorOf(ctx))
			if err != nil {
				return Created{}, err
			}
			return Created{Token: s.listed(tok), Value: value.Reveal()}, nil
		}),
		OpTokens.JSON(func(context.Context, endpoint.None, endpoint.None) (TokensResponse, error) {
			s, err := store()
			if err != nil {
				return TokensResponse{}, err
			}
			out := TokensResponse{Tokens: []Listed{}}
			for _, tok := range s.List() {
				out.Tokens = append(out.Tokens, s.listed(tok))
			}
			return out, nil
		}),
		OpRevokeToken.JSON(func(ctx context.Context, p NameParams, _ endpoint.None) (RevokedResponse, error) {
			s, err := store()
			if err != nil {
				return RevokedResponse{}, err
			}
			tok, err := s.Revoke(p.Name, actorOf(ctx))
			if err != nil {
				return RevokedResponse{}, err
			}
			return RevokedResponse{Token: s.listed(tok)}, nil
		}),
	}
}

func (t *Tokens) listed(tok Token) Listed { return Listed{Token: tok, State: tok.State(t.now())} }

func actorOf(ctx context.Context) string {
	if id, ok := IdentityOf(ctx); ok {
		return id.Actor
	}
	return ""
}
