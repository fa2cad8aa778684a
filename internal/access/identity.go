// Package access says who is calling tug's API and what they may do: API
// tokens (made once, kept only as hashes, checked in constant time,
// revoked by name) and the identity of a caller, whether it came with a
// token, over the unix socket (the local admin, named by the peer's uid)
// or through a session an outer layer (the dashboard) authenticated. The
// api room authenticates with it and checks each operation's role
// against the identity it finds.
package access

import (
	"context"

	"github.com/tugdev/tug/internal/endpoint"
)

// How a caller was identified.
const (
	// ViaToken: an API token (Authorization: Bearer).
	ViaToken = "token"
	// ViaSocket: the unix socket, whose peer is the local admin.
	ViaSocket = "socket"
	// ViaNoAuth: a TCP listener served with --insecure-no-auth and a
	// request without a token.
	ViaNoAuth = "insecure-no-auth"
	// ViaSignature: an operation that authenticates its caller by a
	// signature over the request (a forge's webhook).
	ViaSignature = "signature"
	// ViaSession: a session an outer layer authenticated (a dashboard
	// login with a token), which put the identity in the request's
	// context.
	ViaSession = "session"
)

// Identity is who is calling and the role they act with. Actor is the
// stable name the audit log and release records show: "token:ci" for a
// token, "ann (uid 1000)" for the unix socket's peer.
type Identity struct {
	Actor string        `json:"actor"`
	Role  endpoint.Role `json:"role"`
	// Via says how the caller was identified (ViaToken, ViaSocket, ...).
	Via string `json:"via"`
	// Token is the name of the token used, if any.
	Token string `json:"token,omitempty"`
}

// Remote says whether the caller was identified by a token (or a session
// made from one), not by being the local admin.
func (id Identity) Remote() bool { return id.Via == ViaToken || id.Via == ViaSession }

type identityKey struct{}

// WithIdentity returns ctx carrying id. Only server code sets it (a
// client cannot): the api room sets it after authenticating, and a layer
// in front of the API (the dashboard's sessions) may set it for requests
// it authenticated itself, which the API then takes as they are.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityOf is the identity ctx carries, if any.
func IdentityOf(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ActorOf is the actor to record for a change ctx's caller makes, when
// its identity cannot be chosen by the caller: a token's (or a session's
// made from one), or a signed request's. It is "" otherwise (the unix
// socket's local admin, a listener without authentication), where the
// name the client sends ($TUG_USER) may be used.
func ActorOf(ctx context.Context) string {
	if id, ok := IdentityOf(ctx); ok && (id.Remote() || id.Via == ViaSignature) {
		return id.Actor
	}
	return ""
}
