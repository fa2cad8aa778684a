package store

// alertMigrations is the history of the alert, silence and notification
// tables.
func alertMigrations() []string {
	return []string{
		// alert_silences: silences, kept after they expire for the record.
		// alert_acks: one acknowledgement per alert fingerprint and firing
		// episode. alert_notifications: every notification handed to a
		// channel, with its outcome; alerts is JSON.
		`
CREATE TABLE alert_silences (
	id         TEXT    PRIMARY KEY,
	matchers   TEXT    NOT NULL,
	starts_at  INTEGER NOT NULL,
	ends_at    INTEGER NOT NULL,
	created_by TEXT    NOT NULL DEFAULT '',
	comment    TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE alert_acks (
	fingerprint TEXT    PRIMARY KEY,
	alertname   TEXT    NOT NULL DEFAULT '',
	starts_at   INTEGER NOT NULL,
	acked_by    TEXT    NOT NULL DEFAULT '',
	comment     TEXT    NOT NULL DEFAULT '',
	acked_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE alert_notifications (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        INTEGER NOT NULL,
	channel   TEXT    NOT NULL,
	kind      TEXT    NOT NULL DEFAULT '',
	group_key TEXT    NOT NULL DEFAULT '',
	status    TEXT    NOT NULL,
	outcome   TEXT    NOT NULL,
	attempts  INTEGER NOT NULL DEFAULT 0,
	error     TEXT    NOT NULL DEFAULT '',
	alerts    TEXT    NOT NULL DEFAULT '[]'
);
`,
	}
}
