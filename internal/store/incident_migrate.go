package store

// incidentMigrations is the history of the incident tables.
func incidentMigrations() []string {
	return []string{
		// incidents: one incident each, its lifecycle times as columns (the
		// metrics and lists read them) and the incident room's JSON.
		// incident_entries: each incident's timeline, seq in order of
		// insertion; a non-empty key makes an entry unique in its incident
		// (context gathered more than once is kept once).
		// incident_actions: what was done or proposed about a service
		// (remediation, runbook steps that change what runs), for the
		// remediation guards and the effect of each action.
		// incident_runbook_runs: runbook executions, their steps as JSON.
		// incident_meta: the key acknowledgement links are signed with.
		`
CREATE TABLE incidents (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	title           TEXT    NOT NULL,
	severity        TEXT    NOT NULL,
	service         TEXT    NOT NULL DEFAULT '',
	environment     TEXT    NOT NULL DEFAULT '',
	state           TEXT    NOT NULL,
	opened_at       INTEGER NOT NULL,
	acknowledged_at INTEGER,
	mitigated_at    INTEGER,
	resolved_at     INTEGER,
	closed_at       INTEGER,
	level           INTEGER NOT NULL DEFAULT 0,
	data            TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX incidents_open ON incidents(state, service);

CREATE TABLE incident_entries (
	incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	key         TEXT    NOT NULL DEFAULT '',
	text        TEXT    NOT NULL,
	data        TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (incident_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX incident_entries_key ON incident_entries(incident_id, key) WHERE key != '';

CREATE TABLE incident_actions (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	incident_id INTEGER NOT NULL DEFAULT 0,
	service     TEXT    NOT NULL,
	environment TEXT    NOT NULL DEFAULT '',
	action      TEXT    NOT NULL,
	mode        TEXT    NOT NULL,
	who         TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL,
	status      TEXT    NOT NULL,
	data        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_actions_service ON incident_actions(service, action, at);

CREATE TABLE incident_runbook_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	runbook     TEXT    NOT NULL,
	incident_id INTEGER NOT NULL DEFAULT 0,
	who         TEXT    NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,
	status      TEXT    NOT NULL,
	data        TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE incident_meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`,
	}
}
