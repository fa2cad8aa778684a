package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

// localAdmin is the identity of a request on the unix socket whose peer
// the server did not name (see access.SocketPeer).
var localAdmin = access.Identity{Actor: "local", Role: endpoint.Admin, Via: access.ViaSocket}

// anonymous is a caller without a token on a listener served with
// --insecure-no-auth.
var anonymous = access.Identity{Actor: "anonymous (--insecure-no-auth)", Role: endpoint.Admin, Via: access.ViaNoAuth}

// authenticate finds who sent r on the TCP listener: its bearer token's
// identity; for an operation that checks a signature itself, the signed
// caller; without a token, the anonymous admin when noAuth, else a
// refusal. A token that is sent is checked even when noAuth.
func (h *Handler) authenticate(r *http.Request, op *endpoint.Op, noAuth bool) (access.Identity, error) {
	if op != nil && op.Signed {
		return access.Identity{Actor: "signed:" + op.Path, Via: access.ViaSignature}, nil
	}
	tok, sent := access.Bearer(r.Header)
	switch {
	case !sent && noAuth:
		return anonymous, nil
	case !sent:
		return access.Identity{}, &access.Refusal{Reason: "this API needs a token: send Authorization: Bearer TOKEN " +
			"(an admin makes one with `tug token create NAME --role viewer|deployer|admin`; the CLI sends $TUG_TOKEN)"}
	case h.opts.Tokens == nil:
		return access.Identity{}, &access.Refusal{Reason: "this server keeps no API tokens"}
	}
	return h.opts.Tokens.Verify(tok)
}

// refuse answers 401 to a request whose credentials were refused and
// writes the refusal to the audit log: what was tried, from where, why,
// and the token's name when it was one tug made (a revoked or expired
// one), never the value presented.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, op *endpoint.Op, err error) {
	actor, reason := "unknown", err.Error()
	var ref *access.Refusal
	if errors.As(err, &ref) && ref.Token != "" {
		actor = "token:" + ref.Token
	}
	action := r.Method + " " + r.URL.Path
	if op != nil {
		action = op.Pattern()
	}
	if h.opts.Audit != nil {
		if aerr := h.opts.Audit.Note(audit.Record{Actor: actor, Action: action, Source: r.RemoteAddr, Outcome: audit.Denied, Detail: "credentials refused: " + reason}); aerr != nil {
			h.log.Error("audit: recording a refused credential", "err", aerr)
		}
	}
	h.log.Debug("api: refused credentials", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
	w.Header().Set("WWW-Authenticate", `Bearer realm="tug"`)
	h.router.WriteError(w, r, endpoint.Fail(endpoint.CodeUnauthorized, err))
}

// serve runs op (nil: no operation matched) for the caller r's context
// identifies, and records the call in the audit log when it changes
// something, is an audited read, or was refused for its role.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, op *endpoint.Op, source string) {
	if op == nil || h.opts.Audit == nil {
		h.router.ServeHTTP(w, r)
		return
	}
	id, _ := access.IdentityOf(r.Context())
	rec := audit.Record{Actor: id.Actor, Action: op.Pattern(), Source: source}
	ctx, call := audit.StartCall(r.Context(), rec, h.writeAudit)
	sw := &statusWriter{ResponseWriter: w}
	h.router.ServeHTTP(sw, r.WithContext(ctx))
	if !op.Mutates() && !op.Audited && sw.status != http.StatusForbidden {
		return
	}
	outcome, detail := audit.OK, ""
	switch {
	case sw.status == http.StatusUnauthorized || sw.status == http.StatusForbidden:
		outcome, detail = audit.Denied, sw.message()
	case sw.status >= 400:
		outcome, detail = audit.Failed, sw.message()
	}
	_ = call.Finish(context.WithoutCancel(ctx), outcome, detail) // writeAudit logs a failure
}

// writeAudit writes a call's record, durably, and logs a failure to: the
// call has happened either way, and the log says it went unrecorded.
func (h *Handler) writeAudit(ctx context.Context, r audit.Record) error {
	err := h.opts.Audit.Record(ctx, r)
	if err != nil {
		h.log.Error("audit: a call went unrecorded", "actor", r.Actor, "action", r.Action, "target", r.Target, "outcome", r.Outcome, "err", err)
	}
	return err
}

// releaseOutcome is what the audit record of a deploy or rollback says
// once it ended: the release and its status, or why it failed.
func releaseOutcome(rel *deploy.Release, err error) (outcome, detail string) {
	switch {
	case err != nil && rel != nil:
		d := describe(err)
		return audit.Failed, fmt.Sprintf("release %s %s: %s: %s", rel.ID, rel.Status, d.Code, d.Message)
	case err != nil:
		d := describe(err)
		return audit.Failed, string(d.Code) + ": " + d.Message
	case rel == nil:
		return audit.OK, ""
	}
	return audit.OK, fmt.Sprintf("release %s %s", rel.ID, rel.Status)
}

// statusWriter remembers an answer's status and the start of an error
// answer's body, for the audit record.
type statusWriter struct {
	http.ResponseWriter
	status int
	errBuf []byte
}

const maxErrBody = 4 << 10

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status >= 400 && len(s.errBuf) < maxErrBody {
		s.errBuf = append(s.errBuf, b[:min(len(b), maxErrBody-len(s.errBuf))]...)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// message is the error answer's code and message (tug's envelope or
// Prometheus's), or its status.
func (s *statusWriter) message() string {
	var tug endpoint.ErrorResponse
	if json.Unmarshal(s.errBuf, &tug) == nil && tug.Error.Message != "" {
		return string(tug.Error.Code) + ": " + tug.Error.Message
	}
	var prom struct{ ErrorType, Error string }
	if json.Unmarshal(s.errBuf, &prom) == nil && prom.Error != "" {
		return prom.ErrorType + ": " + prom.Error
	}
	return http.StatusText(s.status)
}

// who is the actor a change is recorded under (a release's who, an
// approval's): a token's identity as authenticated, whatever the body
// says; on the unix socket or without authentication, the name the body
// gives (the CLI sends $TUG_USER or $USER), else the caller's identity.
func who(ctx context.Context, given string) string {
	if a := access.ActorOf(ctx); a != "" {
		return a
	}
	if s := trimmed(given); s != "" {
		return s
	}
	if id, ok := access.IdentityOf(ctx); ok && id.Actor != "" {
		return id.Actor
	}
	return "api"
}
