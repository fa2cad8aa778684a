package backup

import "errors"

// Sentinels callers map to exit codes and API errors.
var (
	// ErrNoRestic: restic is not installed.
	ErrNoRestic = errors.New("restic is not installed: install Debian's restic package (apt-get install restic)")
	// ErrNoPostgres: PostgreSQL's programs are not installed.
	ErrNoPostgres = errors.New("PostgreSQL's programs are not installed: install Debian's postgresql package (apt-get install postgresql-15)")
	// ErrUnknown: no backup of that name is declared.
	ErrUnknown = errors.New("unknown backup")
	// ErrBusy: the same backup (or restore test) is already running.
	ErrBusy = errors.New("already running")
	// ErrWrongPassword: the repository does not open with the password.
	ErrWrongPassword = errors.New("wrong repository password")
	// ErrNoSnapshot: there is nothing to restore.
	ErrNoSnapshot = errors.New("no snapshot")
	// ErrTarget: the restore target is refused (not empty, live, or not
	// given).
	ErrTarget = errors.New("restore target refused")
	// ErrBadRequest: a request that cannot apply to this backup (--into
	// for a directory, --at without pitr, a bad time).
	ErrBadRequest = errors.New("bad request")
	// ErrCheckFailed: a restore test or drill found the restored data
	// wrong.
	ErrCheckFailed = errors.New("check failed")
)
