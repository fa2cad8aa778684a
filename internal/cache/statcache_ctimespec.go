//go:build darwin || freebsd || netbsd || dragonfly

package cache

import "syscall"

func ctimeNS(s *syscall.Stat_t) int64 { return s.Ctimespec.Nano() }
