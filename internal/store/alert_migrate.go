package store

// alertMigrations is the history of the alert, silence and notification
// tables.
func alertMigrations() []string { return nil }
