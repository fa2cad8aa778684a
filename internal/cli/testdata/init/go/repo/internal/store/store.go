package store

// Get returns nothing yet.
func Get() string { return "" }
