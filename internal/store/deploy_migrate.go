package store

// deployMigrations is the history of the release and deploy tables.
func deployMigrations() []string { return nil }
