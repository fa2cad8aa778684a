package config

import (
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// backupName is what a backup may be called: its name becomes a restic
// tag, a metric label and a file name.
var backupName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)

// BackupNames are the declared backups, sorted.
func (c *Config) BackupNames() []string { return slices.Sorted(maps.Keys(c.Backups)) }

// RepositoryKey identifies a backup's repository, so that backups
// sharing one can be found (and must share its password): the absolute
// path, or the S3 endpoint, bucket and prefix. "" when `to` is not set.
func (c *Config) RepositoryKey(b *Backup) string {
	switch {
	case b == nil || b.To == nil:
		return ""
	case b.To.Path != "":
		return "path:" + c.Abs(b.To.Path)
	case b.To.S3 != nil:
		return "s3:" + strings.TrimRight(b.To.S3.Endpoint, "/") + "/" + b.To.S3.Bucket + "/" + strings.Trim(b.To.S3.Prefix, "/")
	}
	return ""
}

// Abs resolves p against the directory of tug.yaml.
func (c *Config) Abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	base := filepath.Dir(c.File)
	if abs, err := filepath.Abs(filepath.Join(base, p)); err == nil {
		return abs
	}
	return filepath.Join(base, p)
}

// backups checks the `backups:` and `dr:` sections.
func (v *validator) backups() {
	passwords := map[string]string{} // repository -> the first password secret
	owner := map[string]string{}     // repository -> the backup that named it first
	for _, name := range v.c.BackupNames() {
		bp := "backups." + name
		b := v.c.Backups[name]
		if v.isBad(bp) {
			continue
		}
		if !backupName.MatchString(name) {
			v.errorKey(bp, bp, "invalid backup name %q: start with a letter; then letters, digits, - and _", name)
		}
		if b == nil {
			v.errorKey(bp, bp, "empty backup: name a source (postgres, path or tug), a schedule, to and password_secret")
			continue
		}
		v.backupSource(bp, b)
		v.cron(bp+".schedule", bp, b.Schedule, true)
		v.backupTo(bp, b)
		if b.PasswordSecret == "" {
			v.errorKey(bp+".password_secret", bp, "password_secret is required: the name of the secret holding the repository's password")
		} else {
			v.secretName(bp+".password_secret", b.PasswordSecret)
		}
		if repo := v.c.RepositoryKey(b); repo != "" && b.PasswordSecret != "" {
			if first, ok := passwords[repo]; ok && first != b.PasswordSecret {
				v.errorf(bp+".password_secret", "backups %s and %s share a repository, so they share its password: name %s here too", owner[repo], name, first)
			} else if !ok {
				passwords[repo], owner[repo] = b.PasswordSecret, name
			}
		}
		v.backupKeep(bp, b)
		for _, k := range []string{"rpo", "rto"} {
			d := b.RPO
			if k == "rto" {
				d = b.RTO
			}
			if v.has(bp+"."+k) && d.D() <= 0 {
				v.errorf(bp+"."+k, "must be positive (e.g. 24h, 15m)")
			}
		}
		if b.Verify != nil {
			v.cron(bp+".verify.schedule", bp+".verify", b.Verify.Schedule, false)
			for i, c := range b.Verify.Checks {
				v.backupCheck(joinIndex(bp+".verify.checks", i), b, c)
			}
		}
	}
	if dr := v.c.DR; dr != nil && dr.Drill != nil {
		v.cron("dr.drill.schedule", "dr.drill", dr.Drill.Schedule, false)
		if v.has("dr.drill.rto") && dr.Drill.RTO.D() <= 0 {
			v.errorf("dr.drill.rto", "must be positive (e.g. 1h)")
		}
	}
}

// backupSource checks that a backup names exactly one source.
func (v *validator) backupSource(bp string, b *Backup) {
	var set []string
	if b.Postgres != nil {
		set = append(set, "postgres")
	}
	if b.Path != "" {
		set = append(set, "path")
	}
	if b.Tug {
		set = append(set, "tug")
	}
	switch len(set) {
	case 0:
		v.errorKey(bp, bp, "no source: name one of postgres: {url_secret: NAME}, path: DIR or tug: true")
	case 1:
	default:
		v.errorKey(bp+"."+set[1], bp+"."+set[1], "%s and %s conflict: a backup has exactly one source; declare two backups", set[0], set[1])
	}
	if pg := b.Postgres; pg != nil {
		pp := bp + ".postgres"
		switch {
		case pg.URLSecret == "" && pg.Database == "":
			v.errorKey(pp, pp, "name the database: url_secret: NAME (the secret holding its URL)")
		case pg.URLSecret != "" && pg.Database != "":
			v.errorKey(pp+".database", pp+".database", "url_secret and database conflict: name one")
		case pg.Database != "":
			v.errorf(pp+".database", "tug does not run databases yet: name the secret holding the database's URL with url_secret")
		default:
			v.secretName(pp+".url_secret", pg.URLSecret)
		}
		if pg.WALDir != "" && !pg.PITR {
			v.errorKey(pp+".wal_dir", pp+".wal_dir", "wal_dir is only used with pitr: true")
		}
	}
}

// cron checks a schedule; required says whether it must be there, and
// whether "off" is refused.
func (v *validator) cron(path, parent, expr string, required bool) {
	switch {
	case !v.has(path):
		if required {
			v.errorKey(path, parent, "schedule is required: a cron expression such as \"0 3 * * *\" or @daily")
		}
	case strings.TrimSpace(expr) == "":
		v.errorf(path, "empty schedule: write a cron expression such as \"0 3 * * *\" or @daily")
	case expr == ScheduleOff && !required:
	default:
		if _, err := ParseSchedule(expr); err != nil {
			off := ""
			if !required {
				off = ", or off"
			}
			v.errorf(path, "invalid cron expression %q: %v (five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly, @monthly%s)", expr, err, off)
		}
	}
}

// backupTo checks the repository: exactly one of path or s3, and an S3
// bucket's keys.
func (v *validator) backupTo(bp string, b *Backup) {
	tp := bp + ".to"
	to := b.To
	switch {
	case to == nil:
		if !v.isBad(tp) {
			v.errorKey(tp, bp, "to is required: {path: DIR} or {s3: {endpoint, bucket, access_key_secret, secret_key_secret}}")
		}
		return
	case to.Path == "" && to.S3 == nil:
		v.errorKey(tp, tp, "name the repository: path: DIR or s3: {...}")
		return
	case to.Path != "" && to.S3 != nil:
		v.errorKey(tp+".s3", tp+".s3", "path and s3 conflict: a backup goes to one repository")
		return
	}
	if s := to.S3; s != nil {
		sp := tp + ".s3"
		for _, req := range []struct{ key, val, what string }{
			{"endpoint", s.Endpoint, "the S3 server's URL"},
			{"bucket", s.Bucket, "the bucket's name"},
			{"access_key_secret", s.AccessKeySecret, "the name of the secret holding the access key ID"},
			{"secret_key_secret", s.SecretKeySecret, "the name of the secret holding the secret access key"},
		} {
			if req.val == "" {
				v.errorKey(sp+"."+req.key, sp, "%s is required: %s", req.key, req.what)
			}
		}
		if s.Endpoint != "" {
			if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(sp+".endpoint", "%q is not an http(s) URL, e.g. https://s3.amazonaws.com", s.Endpoint)
			}
		}
		if s.AccessKeySecret != "" {
			v.secretName(sp+".access_key_secret", s.AccessKeySecret)
		}
		if s.SecretKeySecret != "" {
			v.secretName(sp+".secret_key_secret", s.SecretKeySecret)
		}
	}
}

// backupKeep checks the retention counts.
func (v *validator) backupKeep(bp string, b *Backup) {
	k := b.Keep
	if k == nil {
		return
	}
	kp := bp + ".keep"
	total := 0
	for _, c := range []struct {
		key string
		n   *int
	}{{"daily", k.Daily}, {"weekly", k.Weekly}, {"monthly", k.Monthly}, {"last", k.Last}} {
		if c.n == nil {
			continue
		}
		if *c.n < 0 {
			v.errorf(kp+"."+c.key, "must be 0 or more, got %d", *c.n)
		}
		total += max(*c.n, 0)
	}
	if d, w, m, l := b.KeepPolicy(); total == 0 && d+w+m+l == 0 {
		v.errorKey(kp, kp, "keeps nothing: every snapshot would be forgotten after each backup; keep at least one (e.g. daily: 7)")
	}
}

// backupCheck checks one restore-test check against the backup's source.
func (v *validator) backupCheck(cp string, b *Backup, c *BackupCheck) {
	if c == nil {
		v.errorf(cp, "empty check: {sql: QUERY, min: N} or {file: PATH, sha256: HEX}")
		return
	}
	switch {
	case c.SQL == "" && c.File == "":
		v.errorKey(cp, cp, "name what to check: sql: QUERY (a database) or file: PATH (files)")
		return
	case c.SQL != "" && c.File != "":
		v.errorKey(cp+".file", cp+".file", "sql and file conflict: write two checks")
		return
	}
	kind := b.Kind()
	if c.SQL != "" {
		if kind != "" && kind != "postgres" {
			v.errorf(cp+".sql", "a SQL check needs a postgres source; this backup's source is %s (check files with file:)", kind)
		}
		if c.Min != nil && c.Equals != nil {
			v.errorKey(cp+".equals", cp+".equals", "min and equals conflict: a check compares one way")
		}
		if c.SHA256 != "" {
			v.errorKey(cp+".sha256", cp+".sha256", "sha256 goes with file:, not sql:")
		}
		return
	}
	if kind == "postgres" {
		v.errorf(cp+".file", "a file check needs a path or tug source; this backup dumps a database (check it with sql:)")
	}
	if filepath.IsAbs(c.File) || strings.HasPrefix(filepath.Clean(c.File), "..") {
		v.errorf(cp+".file", "%q must be relative to the backed-up directory and stay inside it", c.File)
	}
	for _, k := range []string{"min", "equals"} {
		if v.has(cp + "." + k) {
			v.errorKey(cp+"."+k, cp+"."+k, "%s goes with sql:, not file:", k)
		}
	}
	if c.SHA256 != "" {
		if b, err := hex.DecodeString(c.SHA256); err != nil || len(b) != 32 {
			v.errorf(cp+".sha256", "%s", fmt.Sprintf("%q is not a SHA-256 (64 hex digits)", c.SHA256))
		}
	}
}
