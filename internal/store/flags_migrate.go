package store

// flagMigrations is the history of the feature flag tables.
func flagMigrations() []string {
	return []string{
		// flag_records: the flags room's own state per flag and
		// environment (run-time overrides, ramps) as opaque JSON by kind.
		// flag_changes: every change of a flag, append-only, with the
		// services it reaches (flag_change_services) so a service's
		// timeline can find it.
		`
CREATE TABLE flag_records (
	kind        TEXT    NOT NULL,
	flag        TEXT    NOT NULL,
	environment TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	updated_at  INTEGER,
	PRIMARY KEY (kind, flag, environment)
) WITHOUT ROWID;

CREATE TABLE flag_changes (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	at          INTEGER NOT NULL,
	flag        TEXT    NOT NULL,
	environment TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	who         TEXT    NOT NULL DEFAULT '',
	before      TEXT    NOT NULL DEFAULT '',
	after       TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX flag_changes_flag ON flag_changes(flag, environment, seq);
CREATE INDEX flag_changes_at ON flag_changes(at);

CREATE TABLE flag_change_services (
	seq     INTEGER NOT NULL REFERENCES flag_changes(seq) ON DELETE CASCADE,
	service TEXT    NOT NULL,
	PRIMARY KEY (service, seq)
) WITHOUT ROWID;
`,
	}
}
