package backup

import "syscall"

// childAttr makes a child die with the process that started it (a
// killed server leaves no restic, pg_dump or scratch PostgreSQL behind)
// and puts it in its own process group, so a terminal's Ctrl-C reaches
// tug, which stops it in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
