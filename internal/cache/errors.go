package cache

import "errors"

// ErrNotFound means a run, job or artifact has nothing stored.
var ErrNotFound = errors.New("not found")

// ErrBadPattern means an inputs or artifacts glob is malformed or points
// outside the workspace.
var ErrBadPattern = errors.New("bad pattern")

// ErrCorrupt means a stored file could not be read back as written.
var ErrCorrupt = errors.New("corrupt cache data")
