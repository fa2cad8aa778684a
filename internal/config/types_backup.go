package config

// The `backups:` and `dr:` keys of tug.yaml: what tug backs up, where,
// how long it keeps it, the objectives it is held to, how it proves the
// backups restore, and how often it rehearses a whole disaster recovery.

// Backup is one scheduled backup: exactly one source (postgres, path or
// tug), a schedule, a destination and a retention.
type Backup struct {
	// A PostgreSQL database, dumped logically (pg_dump's custom format,
	// streamed into the repository). Exactly one of postgres, path or tug.
	// Example: `postgres: {url_secret: DATABASE_URL}`.
	Postgres *BackupPostgres `yaml:"postgres" json:"postgres,omitempty"`
	// A directory (a service's data directory, or a Docker volume's mount
	// point), relative to tug.yaml or absolute. Exactly one of postgres,
	// path or tug. Example: `path: ./data/uploads`.
	Path string `yaml:"path" json:"path,omitempty"`
	// true backs up tug's own state: its SQLite databases (through SQLite's
	// online backup), a TSDB snapshot, the secret store as it is
	// (encrypted), releases' metadata and tug.yaml. Exactly one of
	// postgres, path or tug. Example: `tug: true`.
	Tug bool `yaml:"tug" json:"tug,omitempty"`
	// When the backup runs: a cron expression (five fields) or @hourly,
	// @daily, @weekly, @monthly, as pipeline schedules. Required. Example:
	// `schedule: "0 3 * * *"`.
	Schedule string `yaml:"schedule" json:"schedule"`
	// How many snapshots are kept: the newest of each of the last N days,
	// weeks and months (restic's forget --keep-*); older ones are forgotten
	// after each backup and their data removed by `tug backup prune`.
	// Default: daily 7, weekly 4, monthly 12. Example: `keep: {daily: 30,
	// weekly: 8, monthly: 12}`.
	Keep *BackupKeep `yaml:"keep" json:"keep,omitempty"`
	// The restic repository the snapshots go to: a local directory or an
	// S3 bucket. Backups may share one (they are told apart by tags).
	// Required. Example: `to: {path: /srv/backups}`.
	To *BackupTo `yaml:"to" json:"to"`
	// The name of the secret holding the repository's password (it encrypts
	// every snapshot); never the password itself. Backups sharing a
	// repository name the same secret. Required. Example: `password_secret:
	// BACKUP_PASSWORD`.
	PasswordSecret string `yaml:"password_secret" json:"password_secret"`
	// The recovery point objective: the most data (by age) a restore may
	// lose. The RPOBreached alert fires when the newest restorable point or
	// a restore test's data is older. Default: 1.5 × the schedule's
	// interval. Example: `rpo: 24h`.
	RPO Duration `yaml:"rpo" json:"rpo,omitempty"`
	// The recovery time objective: the longest a restore may take. The
	// RTOBreached alert fires when a restore test took longer. Default:
	// none (measured, not judged). Example: `rto: 15m`.
	RTO Duration `yaml:"rto" json:"rto,omitempty"`
	// The restore test: restore the newest snapshot into a scratch place,
	// run the checks, tear it down, and record the measured RTO and RPO.
	// Default: weekly, with the source's own checks (pg_amcheck for
	// databases, restic's content check for files). Example: `verify:
	// {schedule: "@weekly", checks: [{sql: "select count(*) from orders",
	// min: 1}]}`.
	Verify *BackupVerify `yaml:"verify" json:"verify,omitempty"`
}

// BackupPostgres names the database a backup dumps.
type BackupPostgres struct {
	// The name of the secret holding the database's URL
	// (postgres://user:password@host:port/db); the password reaches
	// pg_dump through its environment, never its command line. Exactly one
	// of url_secret or database. Example: `url_secret: DATABASE_URL`.
	URLSecret string `yaml:"url_secret" json:"url_secret,omitempty"`
	// A database tug runs, by name. Exactly one of url_secret or database.
	// Example: `database: orders`.
	Database string `yaml:"database" json:"database,omitempty"`
	// true adds continuous WAL archiving for point-in-time recovery
	// (`tug backup restore NAME --at TIME`): each backup also takes a base
	// backup (pg_basebackup), and the server ships archived WAL segments to
	// the repository every minute. The database's archive_command must copy
	// segments into wal_dir (`tug backup run` says the exact setting).
	// Default: false. Example: `pitr: true`.
	PITR bool `yaml:"pitr" json:"pitr,omitempty"`
	// With pitr, the directory PostgreSQL's archive_command copies WAL
	// segments into, which tug ships to the repository; PostgreSQL's user
	// must be able to write it. Default: .tug/backups/NAME/wal. Example:
	// `wal_dir: /var/lib/postgresql/wal-archive`.
	WALDir string `yaml:"wal_dir" json:"wal_dir,omitempty"`
}

// BackupKeep is a retention policy, as restic's forget counts it.
type BackupKeep struct {
	// Keep the newest snapshot of each of the last N days that have one.
	// Default: 7. Example: `daily: 30`.
	Daily *int `yaml:"daily" json:"daily,omitempty"`
	// Keep the newest snapshot of each of the last N weeks. Default: 4.
	// Example: `weekly: 8`.
	Weekly *int `yaml:"weekly" json:"weekly,omitempty"`
	// Keep the newest snapshot of each of the last N months. Default: 12.
	// Example: `monthly: 12`.
	Monthly *int `yaml:"monthly" json:"monthly,omitempty"`
	// Keep the N newest snapshots whatever their age. Default: 0. Example:
	// `last: 3`.
	Last *int `yaml:"last" json:"last,omitempty"`
}

// BackupTo is a restic repository: exactly one of path or s3.
type BackupTo struct {
	// A local directory holding the repository (created by the first
	// backup), relative to tug.yaml or absolute. Exactly one of path or s3.
	// Example: `path: /srv/backups`.
	Path string `yaml:"path" json:"path,omitempty"`
	// An S3 bucket (AWS or any S3-compatible server) holding the
	// repository. Exactly one of path or s3. Example: `s3: {endpoint: https://s3.example.com, bucket:
	// backups, prefix: shop, access_key_secret: S3_KEY, secret_key_secret:
	// S3_SECRET}`.
	S3 *BackupS3 `yaml:"s3" json:"s3,omitempty"`
}

// BackupS3 is a repository in an S3 bucket.
type BackupS3 struct {
	// The S3 server's URL (http:// only for a server on loopback or in a
	// private network you trust). Required. Example: `endpoint:
	// https://s3.eu-west-1.amazonaws.com`.
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// The bucket. Required. Example: `bucket: backups`.
	Bucket string `yaml:"bucket" json:"bucket"`
	// The key prefix the repository lives under. Default: none (the
	// bucket's root). Example: `prefix: shop`.
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	// The name of the secret holding the access key ID. Required. Example:
	// `access_key_secret: S3_ACCESS_KEY`.
	AccessKeySecret string `yaml:"access_key_secret" json:"access_key_secret"`
	// The name of the secret holding the secret access key. Required.
	// Example: `secret_key_secret: S3_SECRET_KEY`.
	SecretKeySecret string `yaml:"secret_key_secret" json:"secret_key_secret"`
}

// BackupVerify is a backup's restore test.
type BackupVerify struct {
	// When the restore test runs (cron, as schedule), or "off". Default:
	// @weekly. Example: `schedule: "0 5 * * 0"`.
	Schedule string `yaml:"schedule" json:"schedule,omitempty"`
	// What the restored data must show, beside the source's own checks.
	// Default: none. Example: `checks: [{sql: "select count(*) from
	// orders", min: 1}]`.
	Checks []*BackupCheck `yaml:"checks" json:"checks,omitempty"`
}

// BackupCheck is one check of a restore test: a SQL query (for a
// database) or a file (for a directory or tug's state).
type BackupCheck struct {
	// A query run on the restored database; its first column of its first
	// row is compared with min or equals. Exactly one of sql or file.
	// Example: `sql: "select count(*) from orders"`.
	SQL string `yaml:"sql" json:"sql,omitempty"`
	// With sql: the least the answer may be (a row-count floor). Default:
	// none; without min or equals the query must merely succeed. Example:
	// `min: 1`.
	Min *float64 `yaml:"min" json:"min,omitempty"`
	// With sql: the exact answer expected, as psql prints it. Default:
	// none. Example: `equals: "t"`.
	Equals *string `yaml:"equals" json:"equals,omitempty"`
	// A file of the restored directory (relative to it) that must exist.
	// Exactly one of sql or file. Example: `file: index.json`.
	File string `yaml:"file" json:"file,omitempty"`
	// With file: its expected SHA-256 (hex). Default: any content. Example:
	// `sha256: 9f86d0...`.
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
}

// DR configures disaster-recovery drills.
type DR struct {
	// When `tug dr drill` runs on the server's schedule (cron), or "off".
	// Default: quarterly ("0 4 1 1,4,7,10 *"). Example: `drill: {schedule:
	// "0 4 1 * *", rto: 1h}`.
	Drill *DRDrill `yaml:"drill" json:"drill,omitempty"`
}

// DRDrill is the scheduled drill.
type DRDrill struct {
	// When the drill runs (cron), or "off". Default: "0 4 1 1,4,7,10 *"
	// (quarterly). Example: `schedule: "0 4 1 * *"`.
	Schedule string `yaml:"schedule" json:"schedule,omitempty"`
	// The longest a whole rebuild may take; a slower drill fails. Default:
	// none (measured, not judged). Example: `rto: 1h`.
	RTO Duration `yaml:"rto" json:"rto,omitempty"`
}

// Default schedules of restore tests and drills, and default retention.
const (
	DefaultVerifySchedule = "@weekly"
	DefaultDrillSchedule  = "0 4 1 1,4,7,10 *"
	ScheduleOff           = "off"
	DefaultKeepDaily      = 7
	DefaultKeepWeekly     = 4
	DefaultKeepMonthly    = 12
)

// Kind is the backup's source: "postgres", "path" or "tug".
func (b *Backup) Kind() string {
	switch {
	case b.Postgres != nil:
		return "postgres"
	case b.Tug:
		return "tug"
	case b.Path != "":
		return "path"
	}
	return ""
}

// VerifySchedule is the restore test's schedule: verify.schedule, or the
// default; ScheduleOff when turned off.
func (b *Backup) VerifySchedule() string {
	if b.Verify != nil && b.Verify.Schedule != "" {
		return b.Verify.Schedule
	}
	return DefaultVerifySchedule
}

// DrillSchedule is the drill's schedule, or ScheduleOff.
func (c *Config) DrillSchedule() string {
	if c.DR != nil && c.DR.Drill != nil && c.DR.Drill.Schedule != "" {
		return c.DR.Drill.Schedule
	}
	return DefaultDrillSchedule
}

// KeepPolicy is the retention with defaults filled in: daily, weekly,
// monthly, last.
func (b *Backup) KeepPolicy() (daily, weekly, monthly, last int) {
	daily, weekly, monthly = DefaultKeepDaily, DefaultKeepWeekly, DefaultKeepMonthly
	if k := b.Keep; k != nil {
		if k.Daily != nil {
			daily = *k.Daily
		}
		if k.Weekly != nil {
			weekly = *k.Weekly
		}
		if k.Monthly != nil {
			monthly = *k.Monthly
		}
		if k.Last != nil {
			last = *k.Last
		}
	}
	return daily, weekly, monthly, last
}
