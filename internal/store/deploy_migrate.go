package store

// deployMigrations is the history of the release and deploy tables.
func deployMigrations() []string {
	return []string{
		// releases: one immutable version of a service in one environment;
		// seq orders them and makes the ID ("r<seq>"). deploy_records: the
		// deploy engine's own state (desired routing, in-flight operation)
		// as opaque JSON per kind, service and environment. deploy_meta:
		// counters such as the last routing table version.
		`
CREATE TABLE releases (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT    NOT NULL UNIQUE,
	service      TEXT    NOT NULL,
	environment  TEXT    NOT NULL,
	revision     TEXT    NOT NULL DEFAULT '',
	digest       TEXT    NOT NULL DEFAULT '',
	config_hash  TEXT    NOT NULL DEFAULT '',
	who          TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER,
	finished_at  INTEGER,
	strategy     TEXT    NOT NULL DEFAULT '',
	status       TEXT    NOT NULL,
	reason       TEXT    NOT NULL DEFAULT '',
	approved_by  TEXT    NOT NULL DEFAULT '',
	approved_at  INTEGER,
	dir          TEXT    NOT NULL DEFAULT '',
	spec         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX releases_service ON releases(service, environment, seq);

CREATE TABLE deploy_records (
	kind        TEXT    NOT NULL,
	service     TEXT    NOT NULL,
	environment TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	updated_at  INTEGER,
	PRIMARY KEY (kind, service, environment)
) WITHOUT ROWID;

CREATE TABLE deploy_meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
`,
	}
}
