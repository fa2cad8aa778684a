//go:build !linux

package backup

import "syscall"

// childAttr puts a child in its own process group (systems without a
// parent-death signal rely on the start-up clean-up).
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
