// Package kit holds the small helpers every room shares, one of each, so
// no room grows its own copy: atomic file writes, file locks, process
// liveness, environment variable names, the one duration syntax users
// type, and did-you-mean suggestions. It imports nothing internal, so any
// room may use it; the Docker engine client is built by registry.
package kit
