package proxy

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tugdev/tug/internal/flagset"
)

// FlagsPathPrefix starts the OFREP base URL of each environment,
// http://PROXY/_tug/flags/ENV; the protocol's paths follow it
// (/ofrep/v1/evaluate/flags[/KEY]). The proxy serves it for any host no
// route claims (its own address, as the services call it), so no app's
// path is taken.
const FlagsPathPrefix = "/_tug/flags/"

// FlagsURL is the OFREP base URL of env at a proxy listening on addr
// (host:port; an unspecified host is called on loopback).
func FlagsURL(addr, env string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + FlagsPathPrefix + url.PathEscape(env)
}

const (
	ofrepBulkPath   = "/ofrep/v1/evaluate/flags"
	maxOFREPRequest = 64 << 10
)

// flagSet is a table's compiled flags with their evaluation counters.
type flagSet struct {
	ev   *flagset.Evaluator
	envs map[string]*flagEnv
}

type flagEnv struct {
	ev *flagset.EnvEvaluator
	// counts[flag][variant] is tug_flag_evaluations_total's child.
	counts [][]prometheus.Counter
}

// flagMetrics counts evaluations by flag, variant and environment.
func newFlagMetrics(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tug_flag_evaluations_total",
		Help: "Feature flag evaluations served over OFREP, by flag, variant and environment.",
	}, []string{"flag", "variant", "environment"})
	reg.MustRegister(c)
	return c
}

// compileFlags builds the flags of t (already validated).
func compileFlags(s *flagset.Set, counter *prometheus.CounterVec) *flagSet {
	ev, err := flagset.Compile(s)
	if err != nil || ev == nil {
		return nil
	}
	fs := &flagSet{ev: ev, envs: map[string]*flagEnv{}}
	for _, name := range ev.Envs() {
		e := ev.Env(name)
		fe := &flagEnv{ev: e, counts: make([][]prometheus.Counter, e.Len())}
		for i := range e.Len() {
			key, variants := e.Flag(i)
			fe.counts[i] = make([]prometheus.Counter, len(variants))
			for j, v := range variants {
				if counter != nil {
					fe.counts[i][j] = counter.WithLabelValues(key, v, name)
				}
			}
		}
		fs.envs[name] = fe
	}
	return fs
}

func (fe *flagEnv) count(r *flagset.Result) {
	if r.Flag >= 0 && r.Variant >= 0 {
		if c := fe.counts[r.Flag][r.Variant]; c != nil {
			c.Inc()
		}
	}
}

var ofrepBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// serveFlagsOnly is the flags listener's handler: OFREP, nothing else.
func (s *Server) serveFlagsOnly(w http.ResponseWriter, r *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)
	if !s.serveFlags(w, r, s.routing.Load()) {
		http.NotFound(w, r)
	}
}

// serveFlags answers an OFREP request under FlagsPathPrefix; false when
// the path is not one.
func (s *Server) serveFlags(w http.ResponseWriter, r *http.Request, rt *routing) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, FlagsPathPrefix)
	if !ok {
		return false
	}
	env, op, _ := strings.Cut(rest, "/")
	op = "/" + op
	key := ""
	switch {
	case op == ofrepBulkPath:
	case strings.HasPrefix(op, ofrepBulkPath+"/") && len(op) > len(ofrepBulkPath)+1:
		key = op[len(ofrepBulkPath)+1:]
	default:
		return false
	}
	bp := ofrepBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() { *bp = buf[:0]; ofrepBuffers.Put(bp) }()
	reply := func(code int, body []byte) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		w.Write(body)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, flagset.AppendGeneral(buf, "OFREP evaluations are POST requests"))
		return true
	}
	var fe *flagEnv
	if rt != nil && rt.flags != nil {
		fe = rt.flags.envs[env]
	}
	code, msg := s.authorizeFlags(r, rt, env, fe)
	if code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tug flags"`)
		}
		reply(code, flagset.AppendGeneral(buf, msg))
		return true
	}
	if key == "" {
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, fe.ev.ETag()) {
			w.Header().Set("ETag", fe.ev.ETag())
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOFREPRequest))
	if err != nil {
		w.Header().Set("Connection", "close")
		reply(http.StatusBadRequest, flagset.AppendFailure(buf, key, flagset.ErrParse, "the request body could not be read (at most 64 KiB): "+err.Error()))
		return true
	}
	ctx, ecode, details := flagset.ParseRequest(body)
	if ecode != "" {
		reply(http.StatusBadRequest, flagset.AppendFailure(buf, key, ecode, details))
		return true
	}
	if key != "" {
		res := fe.ev.Evaluate(key, ctx)
		fe.count(&res)
		status := http.StatusOK
		switch res.ErrorCode {
		case "":
		case flagset.ErrFlagNotFound:
			status = http.StatusNotFound
		case flagset.ErrGeneral:
			status = http.StatusInternalServerError
		default:
			status = http.StatusBadRequest
		}
		reply(status, flagset.AppendResult(buf, &res))
		return true
	}
	rs := resultPool.Get().(*[]flagset.Result)
	results := fe.ev.EvaluateAll(ctx, (*rs)[:0])
	for i := range results {
		fe.count(&results[i])
	}
	buf = flagset.AppendBulk(buf, env, fe.ev.ETag(), results)
	*rs = results[:0]
	resultPool.Put(rs)
	w.Header().Set("ETag", fe.ev.ETag())
	reply(http.StatusOK, buf)
	return true
}

var resultPool = sync.Pool{New: func() any { r := make([]flagset.Result, 0, 64); return &r }}

// authorizeFlags checks the client key (Authorization: Bearer KEY, or
// X-API-Key): 401 without a key the flag set knows, 403 for a key of
// another environment, 404 for an environment without flags.
func (s *Server) authorizeFlags(r *http.Request, rt *routing, env string, fe *flagEnv) (int, string) {
	key := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		key = strings.TrimSpace(a[7:])
	} else {
		key = r.Header.Get("X-API-Key")
	}
	if key == "" {
		return http.StatusUnauthorized, "a client key is required: Authorization: Bearer $TUG_FLAGS_KEY"
	}
	sum := sha256.Sum256([]byte(key))
	if fe != nil {
		if _, ok := fe.ev.Client(sum); ok {
			return 0, ""
		}
	}
	if rt != nil && rt.flags != nil {
		for name, other := range rt.flags.envs {
			if _, ok := other.ev.Client(sum); ok {
				return http.StatusForbidden, "this client key is for environment " + strconv.Quote(name) + ", not " + strconv.Quote(env)
			}
		}
	}
	if fe == nil {
		return http.StatusUnauthorized, "unknown client key (and no flags for environment " + strconv.Quote(env) + ")"
	}
	return http.StatusUnauthorized, "unknown client key"
}

// etagMatches implements If-None-Match's weak comparison: any listed tag,
// or *, with or without W/.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if t == etag || bytes.Equal([]byte(strings.Trim(t, `"`)), []byte(strings.Trim(etag, `"`))) {
			return true
		}
	}
	return false
}
