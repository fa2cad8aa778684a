// Package backup takes, keeps and proves backups: PostgreSQL databases
// (a logical dump streamed into the repository, and with pitr a base
// backup plus archived WAL for point-in-time recovery), directories, and
// tug's own state. restic is the engine (encrypted, deduplicated,
// verifiable repositories on a local disk or S3), driven through its
// --json interface.
//
// Every backup has a restore test: the newest snapshot is restored into
// a scratch place (a throwaway PostgreSQL cluster on a free loopback
// port, or a temporary directory), checked, and torn down, and the
// measured restore time (RTO) and age of the restored data (RPO) are
// recorded beside the backups' own history, which the server exposes as
// metrics for the default backup alerts.
//
// Nothing here writes into a live database or directory unless the
// caller names it as the target and forces it; secrets reach restic and
// PostgreSQL's tools through a pipe or the child's environment, never
// their command lines.
package backup
