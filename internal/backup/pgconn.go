package backup

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// pgConn is a PostgreSQL connection as libpq's environment variables,
// so that neither a password nor a URL holding one is ever a command-line
// argument.
type pgConn struct {
	env    []string
	host   string
	port   string
	dbname string
	user   string
}

// pgParams maps URL query parameters to libpq's environment variables.
var pgParams = map[string]string{
	"sslmode":              "PGSSLMODE",
	"sslrootcert":          "PGSSLROOTCERT",
	"sslcert":              "PGSSLCERT",
	"sslkey":               "PGSSLKEY",
	"connect_timeout":      "PGCONNECT_TIMEOUT",
	"application_name":     "PGAPPNAME",
	"host":                 "PGHOST",
	"port":                 "PGPORT",
	"user":                 "PGUSER",
	"target_session_attrs": "PGTARGETSESSIONATTRS",
}

// parsePGURL reads a postgres:// URL. Errors never quote it (it holds a
// password).
func parsePGURL(raw string) (pgConn, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return pgConn{}, fmt.Errorf("%w: the database URL is not a postgres://user:password@host:port/database URL", ErrBadRequest)
	}
	c := pgConn{host: u.Hostname(), port: u.Port(), dbname: strings.TrimPrefix(u.Path, "/")}
	if u.User != nil {
		c.user = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			c.env = append(c.env, "PGPASSWORD="+pw)
		}
	}
	q := u.Query()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		env, ok := pgParams[k]
		if !ok {
			return pgConn{}, fmt.Errorf("%w: the database URL has a parameter tug does not pass on: %q", ErrBadRequest, k)
		}
		v := q.Get(k)
		switch k {
		case "host":
			c.host = v
		case "port":
			c.port = v
		case "user":
			c.user = v
		default:
			c.env = append(c.env, env+"="+v)
		}
	}
	if c.dbname == "" {
		return pgConn{}, fmt.Errorf("%w: the database URL names no database (postgres://host/DATABASE)", ErrBadRequest)
	}
	for _, kv := range []struct{ k, v string }{{"PGHOST", c.host}, {"PGPORT", c.port}, {"PGUSER", c.user}, {"PGDATABASE", c.dbname}} {
		if kv.v != "" {
			c.env = append(c.env, kv.k+"="+kv.v)
		}
	}
	return c, nil
}

// withDB is the same server, another database.
func (c pgConn) withDB(db string) pgConn {
	out := c
	out.dbname = db
	out.env = slices.DeleteFunc(slices.Clone(c.env), func(kv string) bool { return strings.HasPrefix(kv, "PGDATABASE=") })
	out.env = append(out.env, "PGDATABASE="+db)
	return out
}

// same says whether two connections reach the same database.
func (c pgConn) same(o pgConn) bool {
	norm := func(h string) string {
		if h == "" || h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return "local"
		}
		return h
	}
	port := func(p string) string {
		if p == "" {
			return "5432"
		}
		return p
	}
	return norm(c.host) == norm(o.host) && port(c.port) == port(o.port) && c.dbname == o.dbname
}

// String names the database for messages and records, without its
// password.
func (c pgConn) String() string {
	u := url.URL{Scheme: "postgres", Host: c.host, Path: "/" + c.dbname}
	if c.port != "" {
		u.Host += ":" + c.port
	}
	if c.user != "" {
		u.User = url.User(c.user)
	}
	if strings.HasPrefix(c.host, "/") {
		u.Host = ""
		u.RawQuery = "host=" + c.host
	}
	return u.String()
}
